-- common.lua is prepended to every script of redisqueue: the helpers that
-- several state changes share. It defines locals only and touches no key
-- by itself.
--
-- The chunk hash (KEYS or chunk key prefix .. chunk) holds:
--   epoch       claims so far (fences heartbeat, ack, fail, release)
--   worker      the current or last holder
--   deliveries  claims not given back by release
--   failures    errors reported by fail
--   state       pending | running | dead
--   reason      why the chunk is dead
--   claimed     when the current lease was granted, in ms
--   backed_up   the epoch of the delivery that got a backup task (set
--               once a chunk had a backup: a chunk without it has none)
-- A done chunk has no hash: its ID is in the done set. A task whose state
-- is running is in the leases set only (its lease deadline is its score
-- there), one that is pending in the pending set only, one that is dead
-- in the dead hash only; a chunk never claimed has no hash yet.
--
-- A backup task (a chunk ID ending in '+b', see fanout.BackupSuffix) is a
-- second attempt at a running chunk. Acking either twin completes the
-- chunk and forgets the other; a backup that fails, expires or is
-- released is forgotten.

-- Status codes, first element of every result (see codes in scripts.go).
local OK = 1
local NO_WORK = 0
local LEASE_LOST = -1
local UNKNOWN_JOB = -2

-- now_ms reads the queue's clock: Redis TIME, never a worker's clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- SPEC and NOW are nil in a script run by itself. ackclaim.lua runs
-- ack.lua and claim.lua as functions whose parameters SPEC and NOW shadow
-- these, so that the spec it read and its clock are not read again.
local SPEC, NOW

-- load_spec reads the job's spec hash, every field a script uses in one
-- HMGET; nil when the job is unknown (never enqueued, or finished).
local function load_spec(spec_key)
  local v = redis.call('HMGET', spec_key, 'lease_ns', 'max_deliveries',
    'max_failures', 'backoff_base_ns', 'backoff_max_ns', 'function',
    'function_version')
  if not v[1] then
    return nil
  end
  return {
    lease_ms = math.max(1, math.floor(tonumber(v[1]) / 1e6)),
    max_deliveries = tonumber(v[2]),
    max_failures = tonumber(v[3]),
    backoff_base_ms = tonumber(v[4]) / 1e6,
    backoff_max_ms = tonumber(v[5]) / 1e6,
    fn = v[6] or '',
    fn_version = v[7] or '',
  }
end

-- lost_deliveries counts the claims of a chunk that ended without an ack,
-- a fail or a release: deliveries minus failures (release already gave
-- its delivery back).
local function lost_deliveries(deliveries, failures)
  return (tonumber(deliveries) or 0) - (tonumber(failures) or 0)
end

local function deliveries_reason(max_deliveries, worker)
  return 'exceeded ' .. max_deliveries .. ' deliveries (last worker ' ..
    (worker or '?') .. ' lost its lease)'
end

-- dead_letter moves a chunk that is in no other set to the dead hash.
local function dead_letter(chunk_key, dead_key, chunk, reason)
  redis.call('HSET', chunk_key, 'state', 'dead', 'reason', reason)
  redis.call('HSET', dead_key, chunk, reason)
end

-- to_pending makes a chunk that is in no other set claimable at ready_ms.
local function to_pending(chunk_key, pending_key, chunk, ready_ms)
  redis.call('HSET', chunk_key, 'state', 'pending')
  redis.call('ZADD', pending_key, ready_ms, chunk)
end

-- is_backup reports whether a task is a backup task.
local function is_backup(chunk)
  return string.sub(chunk, -2) == '+b'
end

-- forget drops a task from every state, as if it was never enqueued.
local function forget(chunk_key, chunk, pending_key, leases_key, dead_key)
  redis.call('ZREM', pending_key, chunk)
  redis.call('ZREM', leases_key, chunk)
  redis.call('HDEL', dead_key, chunk)
  redis.call('DEL', chunk_key)
end

-- expire_lease takes an expired lease back: the chunk returns to pending
-- now, or is dead-lettered when its lost deliveries reached the limit.
local function expire_lease(chunk_prefix, leases_key, pending_key, dead_key, spec, chunk, now)
  local chunk_key = chunk_prefix .. chunk
  redis.call('ZREM', leases_key, chunk)
  if is_backup(chunk) then
    redis.call('DEL', chunk_key)
    return
  end
  local v = redis.call('HMGET', chunk_key, 'deliveries', 'failures', 'worker')
  if lost_deliveries(v[1], v[2]) >= spec.max_deliveries then
    dead_letter(chunk_key, dead_key, chunk, deliveries_reason(spec.max_deliveries, v[3]))
  else
    to_pending(chunk_key, pending_key, chunk, now)
  end
end

-- wake pushes up to n wake-ups (at most 1000 kept, expiring after a
-- minute) onto the job's wake list, for workers waiting on it (BLPOP).
local function wake(wake_key, n)
  n = math.min(n, 1000)
  if n <= 0 then
    return
  end
  local t = {}
  for i = 1, n do
    t[i] = '1'
  end
  redis.call('LPUSH', wake_key, unpack(t))
  redis.call('LTRIM', wake_key, 0, 999)
  redis.call('PEXPIRE', wake_key, 60000)
end

-- lease_fields reads the chunk hash's fields named after state, worker
-- and epoch when worker and epoch hold the chunk's lease (v[4], v[5] ...
-- in their order); nil otherwise.
local function lease_fields(chunk_key, worker, epoch, ...)
  local v = redis.call('HMGET', chunk_key, 'state', 'worker', 'epoch', ...)
  if v[1] == 'running' and v[2] == worker and v[3] == epoch then
    return v
  end
  return nil
end

-- holds reports whether worker and epoch hold the chunk's lease.
local function holds(chunk_key, worker, epoch)
  return lease_fields(chunk_key, worker, epoch) ~= nil
end

-- forget_held drops a task whose lease was just found held: a running
-- task is in the leases set only.
local function forget_held(chunk_key, chunk, leases_key)
  redis.call('ZREM', leases_key, chunk)
  redis.call('DEL', chunk_key)
end

