-- reclaim.lua takes back every expired lease of a job (deadline < now):
-- each chunk returns to pending, or is dead-lettered when its lost
-- deliveries reached the limit.
--
-- KEYS[1] spec hash      KEYS[2] pending zset   KEYS[3] leases zset
-- KEYS[4] dead hash      KEYS[5] wake list
-- ARGV[1] chunk key prefix (<prefix>:{<job>}:chunk:, same hash slot)
--
-- Result: {OK, number of leases taken back}; {UNKNOWN_JOB}.
local spec = load_spec(KEYS[1])
if not spec then
  return {UNKNOWN_JOB}
end
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - 1)
for _, chunk in ipairs(expired) do
  expire_lease(ARGV[1], KEYS[3], KEYS[2], KEYS[4], spec, chunk, now)
end
wake(KEYS[5], #expired)
return {OK, #expired}
