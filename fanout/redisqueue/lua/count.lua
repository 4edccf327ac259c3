-- count.lua adds a published task's records and bytes to its job's
-- counts, once per task.
--
-- KEYS[1] spec hash      KEYS[2] counted set    KEYS[3] counts hash
-- ARGV[1] task           ARGV[2] records in     ARGV[3] records out
-- ARGV[4] bytes in
--
-- Result: {OK, 1} counted now; {OK, 0} counted before; {UNKNOWN_JOB}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {UNKNOWN_JOB}
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then
  return {OK, 0}
end
redis.call('HINCRBY', KEYS[3], 'records_in', ARGV[2])
redis.call('HINCRBY', KEYS[3], 'records_out', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'bytes_in', ARGV[4])
return {OK, 1}
