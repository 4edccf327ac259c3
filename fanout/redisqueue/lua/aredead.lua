-- aredead.lua tells which of the given chunks are dead-lettered, in one
-- consistent read, without listing the job's other dead letters.
--
-- KEYS[1] spec hash      KEYS[2] dead hash
-- ARGV    the chunk IDs
--
-- Result: {OK, 1|0 per chunk}; {UNKNOWN_JOB}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {UNKNOWN_JOB}
end
local out = {OK}
for i = 1, #ARGV do
  out[#out + 1] = redis.call('HEXISTS', KEYS[2], ARGV[i])
end
return out
