-- fail.lua records a function error, fenced on worker and epoch: the chunk
-- is dead-lettered (permanent error, or failures reached the limit) or
-- goes back to pending after a jittered exponential backoff.
--
-- KEYS[1] chunk hash     KEYS[2] leases zset    KEYS[3] pending zset
-- KEYS[4] dead hash      KEYS[5] spec hash
-- ARGV[1] chunk          ARGV[2] worker         ARGV[3] epoch
-- ARGV[4] reason         ARGV[5] permanent (1 or 0)
-- ARGV[6] jitter: a random number in [0, 1) drawn by the caller
--
-- Result: {OK, 1} dead; {OK, 0, ready ms} retried; {LEASE_LOST};
-- {UNKNOWN_JOB}. A backup task is forgotten instead ({OK, 0, now}): the
-- original still runs.
--
-- The delay is min(backoff max, backoff base * 2^(failures-1)) scaled by
-- 0.5 + jitter/2. The delivery stays counted: deliveries minus failures is
-- what the delivery limit bounds.
local spec = load_spec(KEYS[5])
if not spec then
  return {UNKNOWN_JOB}
end
if not holds(KEYS[1], ARGV[2], ARGV[3]) then
  return {LEASE_LOST}
end
local now = now_ms()
redis.call('ZREM', KEYS[2], ARGV[1])
if is_backup(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return {OK, 0, now}
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if ARGV[5] == '1' then
  dead_letter(KEYS[1], KEYS[4], ARGV[1], 'permanent error: ' .. ARGV[4])
  return {OK, 1}
end
if failures >= spec.max_failures then
  dead_letter(KEYS[1], KEYS[4], ARGV[1],
    'failed ' .. failures .. ' times (limit ' .. spec.max_failures .. '), last error: ' .. ARGV[4])
  return {OK, 1}
end
local delay = math.min(spec.backoff_max_ms, spec.backoff_base_ms * 2 ^ (failures - 1))
local ready = now + math.floor(delay * (0.5 + tonumber(ARGV[6]) / 2))
to_pending(KEYS[1], KEYS[3], ARGV[1], ready)
return {OK, 0, ready}
