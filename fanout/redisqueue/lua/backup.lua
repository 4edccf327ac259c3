-- backup.lua adds a running chunk's backup task, claimable now, unless
-- the chunk is not running or already has one.
--
-- KEYS[1] spec hash      KEYS[2] pending zset   KEYS[3] leases zset
-- KEYS[4] backup task's hash
-- ARGV[1] chunk          ARGV[2] backup task
--
-- Result: {OK, 1} added; {OK, 0} not; {UNKNOWN_JOB}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {UNKNOWN_JOB}
end
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) or redis.call('EXISTS', KEYS[4]) == 1
    or redis.call('ZSCORE', KEYS[2], ARGV[2]) or redis.call('ZSCORE', KEYS[3], ARGV[2]) then
  return {OK, 0}
end
redis.call('HSET', KEYS[4], 'state', 'pending')
redis.call('ZADD', KEYS[2], now_ms(), ARGV[2])
return {OK, 1}
