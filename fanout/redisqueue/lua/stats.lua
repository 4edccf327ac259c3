-- stats.lua counts a job's chunks by state in one consistent read.
--
-- KEYS[1] spec hash      KEYS[2] pending zset   KEYS[3] leases zset
-- KEYS[4] done set       KEYS[5] dead hash      KEYS[6] counts hash
--
-- Result: {OK, pending, running, done, dead, retrying, records in,
-- records out, bytes in}; {UNKNOWN_JOB}. Retrying counts the pending
-- chunks whose ready time is after now; the last three are count.lua's
-- sums.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {UNKNOWN_JOB}
end
local now = now_ms()
return {OK,
  redis.call('ZCARD', KEYS[2]),
  redis.call('ZCARD', KEYS[3]),
  redis.call('SCARD', KEYS[4]),
  redis.call('HLEN', KEYS[5]),
  redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf'),
  tonumber(redis.call('HGET', KEYS[6], 'records_in')) or 0,
  tonumber(redis.call('HGET', KEYS[6], 'records_out')) or 0,
  tonumber(redis.call('HGET', KEYS[6], 'bytes_in')) or 0}
