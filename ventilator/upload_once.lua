-- upload_once.lua -- a watched file becomes an upload exactly once (ventilator/watch.c).
--
-- The path becomes a member of the watched set and an entry of the upload stream together,
-- or neither: a file seen again (a rescan, a restart) is found in the set and skipped.
-- KEYS: 1 watched set, 2 uploads stream, 3 counters. ARGV: 1 path (= key), 2 label.
-- Returns 1 when the file was uploaded now, 0 when it had been before.

if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'key', ARGV[1], 'label', ARGV[2], 'path', ARGV[1])
redis.call('HINCRBY', KEYS[3], 'uploaded', 1)
return 1
