-- activity.lua reads what a job's tasks are doing: every leased task with
-- how long it has held its lease, and the recent task durations.
--
-- KEYS[1] spec hash      KEYS[2] leases zset    KEYS[3] recent durations
-- ARGV[1] chunk key prefix (<prefix>:{<job>}:chunk:, same hash slot)
-- ARGV[2] most recent durations read (ack.lua keeps up to twice that)
--
-- Result: {OK, {task, worker, epoch, running ms, ...}, {duration ms, ...}};
-- {UNKNOWN_JOB}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {UNKNOWN_JOB}
end
local now = now_ms()
local running = {}
for _, task in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local v = redis.call('HMGET', ARGV[1] .. task, 'worker', 'epoch', 'claimed')
  running[#running + 1] = task
  running[#running + 1] = v[1] or ''
  running[#running + 1] = tonumber(v[2]) or 0
  running[#running + 1] = now - (tonumber(v[3]) or now)
end
return {OK, running, redis.call('LRANGE', KEYS[3], 0, tonumber(ARGV[2]) - 1)}
