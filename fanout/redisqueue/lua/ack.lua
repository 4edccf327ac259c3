-- ack.lua marks a chunk done, fenced on worker and epoch.
--
-- KEYS[1] chunk hash     KEYS[2] leases zset    KEYS[3] done set
-- KEYS[4] spec hash
-- ARGV[1] chunk          ARGV[2] worker         ARGV[3] epoch
--
-- Result: {OK}, also when the chunk is already done (whoever acked it);
-- {LEASE_LOST}; {UNKNOWN_JOB}. The chunk hash is deleted: done is final.
if redis.call('EXISTS', KEYS[4]) == 0 then
  return {UNKNOWN_JOB}
end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then
  return {OK}
end
if not holds(KEYS[1], ARGV[2], ARGV[3]) then
  return {LEASE_LOST}
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
redis.call('SADD', KEYS[3], ARGV[1])
return {OK}
