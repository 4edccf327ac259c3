-- claim.lua leases the first ready chunk of one job, after taking back up
-- to ARGV[3] of the job's expired leases (so that no separate reclaimer is
-- strictly needed).
--
-- KEYS[1] spec hash      KEYS[2] pending zset   KEYS[3] leases zset
-- KEYS[4] dead hash      KEYS[5] wake list
-- ARGV[1] chunk key prefix (<prefix>:{<job>}:chunk:, same hash slot)
-- ARGV[2] worker         ARGV[3] expired leases to take back first
-- ARGV[4] (optional) 1: the worker runs only the functions that follow
-- ARGV[5..] pairs of function name and the version the worker has of it
--
-- Result: {OK, chunk, epoch, deadline ms, deliveries, failures};
-- {NO_WORK} when no chunk is ready, or when the job's function (spec
-- field function, at the version in function_version unless that is
-- empty) is not among the worker's; {UNKNOWN_JOB}. A job whose spec names
-- no function is claimed by any worker.
--
-- Pending chunks come out by ready time, then by chunk ID. A chunk whose
-- lost deliveries already reached the limit is dead-lettered instead of
-- handed out.
--
-- A claim that finds no chunk ready drops the job's wake-ups: each was
-- pushed for a chunk made claimable, and every such chunk has been
-- claimed since (a chunk that becomes ready later, a retry after its
-- backoff, pushed none). Left there, they woke each worker that went idle
-- at the end of the job to claim nothing, once per wake-up (an enqueue of
-- 10,000 chunks pushes 1,000: about 0.1 BLPOP and 0.1 claim a chunk in the
-- scale simulation's 10,000 x 100).
local spec = SPEC or load_spec(KEYS[1])
if not spec then
  return {UNKNOWN_JOB}
end
local now = NOW or now_ms()
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now - 1, 'LIMIT', 0, tonumber(ARGV[3]))
for _, chunk in ipairs(expired) do
  expire_lease(ARGV[1], KEYS[3], KEYS[2], KEYS[4], spec, chunk, now)
end
if ARGV[4] and spec.fn ~= '' then
  local runs = false
  for i = 5, #ARGV, 2 do
    if ARGV[i] == spec.fn and (spec.fn_version == '' or ARGV[i + 1] == spec.fn_version) then
      runs = true
      break
    end
  end
  if not runs then
    return {NO_WORK}
  end
end
while true do
  -- The first pending chunk, taken out, and put back as it was when it
  -- is not ready yet.
  local first = redis.call('ZPOPMIN', KEYS[2])
  if #first == 0 then
    redis.call('DEL', KEYS[5])
    return {NO_WORK}
  end
  local chunk = first[1]
  if tonumber(first[2]) > now then
    redis.call('ZADD', KEYS[2], first[2], chunk)
    redis.call('DEL', KEYS[5])
    return {NO_WORK}
  end
  local chunk_key = ARGV[1] .. chunk
  local v = redis.call('HMGET', chunk_key, 'deliveries', 'failures', 'worker', 'epoch')
  local deliveries = tonumber(v[1]) or 0
  local failures = tonumber(v[2]) or 0
  if lost_deliveries(deliveries, failures) >= spec.max_deliveries then
    dead_letter(chunk_key, KEYS[4], chunk, deliveries_reason(spec.max_deliveries, v[3]))
  else
    local epoch = (tonumber(v[4]) or 0) + 1
    local deadline = now + spec.lease_ms
    deliveries = deliveries + 1
    redis.call('HSET', chunk_key, 'epoch', epoch, 'deliveries', deliveries, 'failures', failures,
      'worker', ARGV[2], 'state', 'running', 'claimed', now)
    redis.call('ZADD', KEYS[3], deadline, chunk)
    return {OK, chunk, epoch, deadline, deliveries, failures}
  end
end
