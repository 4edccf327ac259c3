-- enqueue.lua registers a job and adds a batch of its chunks as pending.
--
-- KEYS[1] spec hash      KEYS[2] pending zset   KEYS[3] leases zset
-- KEYS[4] dead hash      KEYS[5] done set
-- ARGV[1] job            ARGV[2] manifest       ARGV[3] lease (ns)
-- ARGV[4] max deliveries ARGV[5] max failures
-- ARGV[6] backoff base (ns)                     ARGV[7] backoff max (ns)
-- ARGV[8..] chunk IDs
--
-- Result: {OK, number of chunks added}. A chunk already known to the job
-- in any state (pending, running, dead or done) is left as it is. The spec
-- is written by every batch: the last enqueue's spec wins.
redis.call('HSET', KEYS[1], 'job', ARGV[1], 'manifest', ARGV[2],
  'lease_ns', ARGV[3], 'max_deliveries', ARGV[4], 'max_failures', ARGV[5],
  'backoff_base_ns', ARGV[6], 'backoff_max_ns', ARGV[7])
local now = now_ms()
local added = 0
for i = 8, #ARGV do
  local chunk = ARGV[i]
  if not redis.call('ZSCORE', KEYS[2], chunk)
    and not redis.call('ZSCORE', KEYS[3], chunk)
    and redis.call('HEXISTS', KEYS[4], chunk) == 0
    and redis.call('SISMEMBER', KEYS[5], chunk) == 0 then
    redis.call('ZADD', KEYS[2], now, chunk)
    added = added + 1
  end
end
return {OK, added}
