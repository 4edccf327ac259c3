-- deadletters.lua lists a job's dead-lettered chunks in one consistent
-- read.
--
-- KEYS[1] spec hash      KEYS[2] dead hash
-- ARGV[1] chunk key prefix (<prefix>:{<job>}:chunk:, same hash slot)
--
-- Result: {OK, chunk, reason, deliveries, failures, chunk, ...};
-- {UNKNOWN_JOB}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {UNKNOWN_JOB}
end
local out = {OK}
local dead = redis.call('HGETALL', KEYS[2])
for i = 1, #dead, 2 do
  local v = redis.call('HMGET', ARGV[1] .. dead[i], 'deliveries', 'failures')
  out[#out + 1] = dead[i]
  out[#out + 1] = dead[i + 1]
  out[#out + 1] = tonumber(v[1]) or 0
  out[#out + 1] = tonumber(v[2]) or 0
end
return out
