-- leasecommit.lua gives holder the job's commit lease for ttl ms, or
-- extends it when holder holds it; another holder's running lease is left
-- alone. The key's expiry (PX) runs on Redis's clock. The job's spec is
-- not needed: a queue that forgot the job still keeps its committers apart.
--
-- KEYS[1] commit lease string
-- ARGV[1] holder         ARGV[2] ttl in ms
--
-- Result: {OK, 1} when holder holds the lease now; {OK, 0} otherwise.
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return {OK, 0}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {OK, 1}
