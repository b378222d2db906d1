-- settle_stored.lua -- new upload entries whose image is already stored are settled here,
-- without a task (ventilator/settle.c). An image key is stored once, so such an entry's result
-- would only be counted as a duplicate: featurizing it again is work thrown away (a second
-- `fruitstream run` over the same folder would featurize every image again). Each is
-- settled as the sink's store script settles a duplicate result: acknowledged, deleted
-- with its blob (only one under the blob prefix), counted in `duplicates`. An entry that
-- is no longer pending is left alone.
-- KEYS: 1 uploads stream, 2 counters, then the image hash of each entry.
-- ARGV: 1 group, 2 blob prefix, then each entry's ID.
-- Returns, per entry, 1 when settled here, 0 when it still needs a task.

local uploads, counters = KEYS[1], KEYS[2]
local group, blob_prefix = ARGV[1], ARGV[2]
local out, settled = {}, 0
for i = 3, #KEYS do
  local id = ARGV[i]
  out[i - 2] = 0
  if redis.call('TYPE', KEYS[i]).ok == 'hash' and redis.call('XACK', uploads, group, id) == 1 then
    local e, blob = redis.call('XRANGE', uploads, id, id), ''
    local f = e[1] and e[1][2] or {}
    for j = 1, #f, 2 do if f[j] == 'blob' then blob = f[j + 1] end end
    redis.call('XDEL', uploads, id)
    if blob:sub(1, #blob_prefix) == blob_prefix then redis.call('DEL', blob) end
    settled = settled + 1
    out[i - 2] = 1
  end
end
if settled > 0 then redis.call('HINCRBY', counters, 'duplicates', settled) end
return out
