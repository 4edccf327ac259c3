-- backup.lua adds a running chunk's backup task, claimable now, unless
-- the chunk is not running, already has a backup, or had one during its
-- current delivery (a backup that failed or expired is not started again
-- and again while the original runs). The backup's epochs continue from
-- the chunk's, so that a later backup's leases never repeat an earlier
-- one's.
--
-- KEYS[1] spec hash      KEYS[2] pending zset   KEYS[3] leases zset
-- KEYS[4] backup task's hash                    KEYS[5] chunk's hash
-- KEYS[6] wake list
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
local v = redis.call('HMGET', KEYS[5], 'epoch', 'backed_up')
if v[2] and v[2] == v[1] then
  return {OK, 0}
end
redis.call('HSET', KEYS[5], 'backed_up', v[1] or '0')
redis.call('HSET', KEYS[4], 'state', 'pending', 'epoch', v[1] or '0')
redis.call('ZADD', KEYS[2], now_ms(), ARGV[2])
wake(KEYS[6], 1)
return {OK, 1}
