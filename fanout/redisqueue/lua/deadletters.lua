-- deadletters.lua lists a job's dead-lettered chunks in one consistent
-- read: all of them, or at most a given number, found by HSCAN so that a
-- job with 100,000 dead letters costs what one with a few does.
--
-- KEYS[1] spec hash      KEYS[2] dead hash
-- ARGV[1] chunk key prefix (<prefix>:{<job>}:chunk:, same hash slot)
-- ARGV[2] most dead letters returned (0: every one)
--
-- Result: {OK, chunk, reason, deliveries, failures, chunk, ...};
-- {UNKNOWN_JOB}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {UNKNOWN_JOB}
end
local out = {OK}
local function add(chunk, reason)
  local v = redis.call('HMGET', ARGV[1] .. chunk, 'deliveries', 'failures')
  out[#out + 1] = chunk
  out[#out + 1] = reason
  out[#out + 1] = tonumber(v[1]) or 0
  out[#out + 1] = tonumber(v[2]) or 0
end
local limit = tonumber(ARGV[2]) or 0
if limit <= 0 then
  local dead = redis.call('HGETALL', KEYS[2])
  for i = 1, #dead, 2 do
    add(dead[i], dead[i + 1])
  end
  return out
end
-- HSCAN may return an entry twice (a resize between calls): seen keeps
-- each once.
local seen, n, cursor = {}, 0, '0'
repeat
  local page = redis.call('HSCAN', KEYS[2], cursor, 'COUNT', limit)
  cursor = page[1]
  local kv = page[2]
  for i = 1, #kv, 2 do
    if n < limit and not seen[kv[i]] then
      seen[kv[i]] = true
      n = n + 1
      add(kv[i], kv[i + 1])
    end
  end
until cursor == '0' or n >= limit
return out
