-- store.lua -- stores a batch of results in one call (sink/store.c runs it with EVALSHA).
--
-- A result is trusted only as far as its upload entry vouches for it: the entry must still
-- be in the stream, pending in the ventilators' group (a task was sent for it) and name
-- the same key. Anything else is rejected and counted, touching nothing: a result made up
-- by a peer, or naming another upload's entry, must neither be stored nor delete that
-- upload. A result arriving again after its entry was stored and deleted finds its image
-- already stored: a duplicate. A result whose image key holds something other than a
-- hash is rejected too (writing there would fail the whole call), and its upload settled
-- (entry and blob deleted): it could never be stored, and would be sent again for ever.
-- The checks run with redis.pcall, so an entry ID Redis refuses rejects that one result
-- instead of failing the whole call. Only blobs under BLOB_PREFIX are deleted with their
-- entry: a blob field naming any other key is not ours.
--
-- The feature and projection blobs never enter Lua (Redis 7.0's Lua hashes every byte of
-- every string it is given: for a 5 KB blob, more than all the rest of an item), nor does
-- any field of a stored result that the script does not decide: an argument passed through
-- redis.call is copied twice (into Lua, and back into Redis), and each field added to a hash
-- already holding the blobs costs more than a plain HSET's. The sink writes them all into
-- the item's staging hash in the transaction that runs this script; the script adds `seq`,
-- and RENAME moves the whole hash into place: the image hash appears complete, in one
-- command. Staging hashes that are not moved are deleted by the same transaction, after the
-- script. (Passed through the script instead, these fields made it take 25 us of Redis's
-- time per stored result instead of 17.)
--
-- Per item the script runs only the commands that differ from item to item; counters,
-- labels, XACK and XDEL are written once per batch, since the per-command cost is what
-- limits Redis here. The sequence counter too: it first moves by the number of ok results
-- (the most that can be new), which hands out their numbers, and at the end moves back by
-- those not used. Should the script fail midway, the counter is ahead of every number used,
-- never behind; the repeat goes on, leaving a gap the PCA's catch-up passes over.
--
-- KEYS: 1 stored stream, 2 counters, 3 labels, 4 uploads stream, 5 failed set (BATCH_KEYS
--       = 5 come first), then ITEM_KEYS = 2 per item: its image hash and its staging hash
--       (which holds every field of the image hash but `seq` when ok is '1')
-- ARGV: 1 group, 2 stored_ms (BATCH_ARGS = 2 come first), then ITEM_FIELDS per item:
--       entry, key, label, ok, error, worker, uploaded_ms, size, attempt (the last four
--       for a failed result's hash)
-- Returns {outcome, seq} per item, flattened (outcome: NEW, DUPLICATE, FAILED, REJECTED).
--
-- The upper-case names are defined once, in sink/store.c, which puts them in a line of
-- `local` assignments ahead of this text before loading it.

local stored, counters, labels, uploads, failed_set = KEYS[1], KEYS[2], KEYS[3], KEYS[4],
  KEYS[5]
local group, stored_ms = ARGV[1], ARGV[2]
local stored_count, failed, duplicates, rejected = 0, 0, 0, 0
local per_label, entries, out = {}, {}, {}

-- the fields of a failed result's hash but its status and error, as multiple values (no
-- table per item)
local function failed_fields(a)
  return 'key', ARGV[a + 2], 'label', ARGV[a + 3], 'worker', ARGV[a + 6],
    'uploaded_ms', ARGV[a + 7], 'stored_ms', stored_ms, 'size', ARGV[a + 8],
    'attempt', ARGV[a + 9]
end

-- the blob of the pending upload entry naming key ('' if none), or nil
local function upload_of(entry, key)
  -- XPENDING and XRANGE take ranges: '7000' is all of millisecond 7000, '(7000' excludes
  -- it. Only the entry named exactly, as Redis writes its ID, vouches for a result.
  local p = redis.pcall('XPENDING', uploads, group, entry, entry, 1)
  if type(p) ~= 'table' or p.err or not p[1] or p[1][1] ~= entry then return nil end
  local e = redis.call('XRANGE', uploads, entry, entry)
  if not e[1] or e[1][1] ~= entry then return nil end
  local f, named, blob = e[1][2], entry, ''
  for j = 1, #f, 2 do
    if f[j] == 'key' then named = f[j + 1] elseif f[j] == 'blob' then blob = f[j + 1] end
  end
  if named ~= key then return nil end
  return blob
end

local items = (#KEYS - BATCH_KEYS) / ITEM_KEYS
local reserved = 0
for i = 1, items do
  if ARGV[BATCH_ARGS + (i - 1) * ITEM_FIELDS + 4] == '1' then reserved = reserved + 1 end
end
local last_seq = 0 -- the number before the next one handed out
if reserved > 0 then last_seq = redis.call('HINCRBY', counters, 'seq', reserved) - reserved end

for i = 1, items do
  local k = BATCH_KEYS + (i - 1) * ITEM_KEYS
  local image, staging = KEYS[k + 1], KEYS[k + 2]
  local a = BATCH_ARGS + (i - 1) * ITEM_FIELDS
  local entry, key, label = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local blob = upload_of(entry, key)
  if blob and blob:sub(1, #BLOB_PREFIX) == BLOB_PREFIX then redis.call('DEL', blob) end
  if blob then entries[#entries + 1] = entry end
  local kind = redis.call('TYPE', image).ok
  if kind == 'hash' then
    duplicates = duplicates + 1
    out[2 * i - 1], out[2 * i] = DUPLICATE, tonumber(redis.call('HGET', image, 'seq') or '0')
  elseif not blob or kind ~= 'none' then -- no entry vouches for it, or no room for it
    rejected = rejected + 1
    out[2 * i - 1], out[2 * i] = REJECTED, 0
  elseif ARGV[a + 4] ~= '1' then
    redis.call('HSET', image, 'status', 'failed', 'error', ARGV[a + 5], failed_fields(a))
    redis.call('SADD', failed_set, key)
    failed = failed + 1
    out[2 * i - 1], out[2 * i] = FAILED, 0
  else
    last_seq = last_seq + 1
    local seq = last_seq
    stored_count = stored_count + 1
    -- XADD first: should it fail, no image hash is left to pass later for a duplicate
    redis.call('XADD', stored, seq .. '-1', 'key', key)
    redis.call('HSET', staging, 'seq', seq)
    redis.call('RENAME', staging, image)
    if label ~= '' then per_label[label] = (per_label[label] or 0) + 1 end
    out[2 * i - 1], out[2 * i] = NEW, seq
  end
end

if stored_count < reserved then redis.call('HINCRBY', counters, 'seq', stored_count - reserved) end
if stored_count > 0 then redis.call('HINCRBY', counters, 'stored', stored_count) end
if failed > 0 then redis.call('HINCRBY', counters, 'failed', failed) end
if duplicates > 0 then redis.call('HINCRBY', counters, 'duplicates', duplicates) end
if rejected > 0 then redis.call('HINCRBY', counters, 'rejected', rejected) end
for label, n in pairs(per_label) do redis.call('HINCRBY', labels, label, n) end
if #entries > 0 then
  redis.call('XACK', uploads, group, unpack(entries))
  redis.call('XDEL', uploads, unpack(entries))
end
return out
