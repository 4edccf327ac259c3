-- redrive.lua moves every dead-lettered chunk of a job back to pending,
-- claimable now, with deliveries and failures reset. The epoch is kept so
-- that leases from before stay fenced off.
--
-- KEYS[1] spec hash      KEYS[2] pending zset   KEYS[3] dead hash
-- KEYS[4] wake list
-- ARGV[1] chunk key prefix (<prefix>:{<job>}:chunk:, same hash slot)
--
-- Result: {OK, number of chunks moved}; {UNKNOWN_JOB}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {UNKNOWN_JOB}
end
local now = now_ms()
local dead = redis.call('HKEYS', KEYS[3])
for _, chunk in ipairs(dead) do
  local chunk_key = ARGV[1] .. chunk
  redis.call('HSET', chunk_key, 'deliveries', 0, 'failures', 0)
  redis.call('HDEL', chunk_key, 'reason')
  to_pending(chunk_key, KEYS[2], chunk, now)
end
redis.call('DEL', KEYS[3])
wake(KEYS[4], #dead)
return {OK, #dead}
