-- heartbeat.lua extends a lease that worker and epoch still hold.
--
-- KEYS[1] chunk hash     KEYS[2] leases zset    KEYS[3] spec hash
-- ARGV[1] chunk          ARGV[2] worker         ARGV[3] epoch
--
-- Result: {OK, new deadline ms}; {LEASE_LOST}; {UNKNOWN_JOB}.
--
-- A lease past its deadline that no claim or reclaim took back yet is
-- still held: no other attempt can have had the chunk meanwhile.
local spec = load_spec(KEYS[3])
if not spec then
  return {UNKNOWN_JOB}
end
if not holds(KEYS[1], ARGV[2], ARGV[3]) then
  return {LEASE_LOST}
end
local deadline = now_ms() + spec.lease_ms
redis.call('ZADD', KEYS[2], deadline, ARGV[1])
return {OK, deadline}
