-- releasecommit.lua ends holder's commit lease of a job; a lease another
-- holder took (after holder's expired) stays.
--
-- KEYS[1] commit lease string
-- ARGV[1] holder
--
-- Result: {OK}.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return {OK}
