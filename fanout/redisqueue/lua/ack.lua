-- ack.lua marks a chunk done, fenced on worker and epoch. Acking a backup
-- task completes its chunk; either twin's ack forgets the other, whose
-- holder then finds its lease lost.
--
-- KEYS[1] task hash      KEYS[2] leases zset    KEYS[3] done set
-- KEYS[4] spec hash      KEYS[5] twin's hash    KEYS[6] pending zset
-- KEYS[7] dead hash      KEYS[8] recent durations list
-- ARGV[1] task           ARGV[2] worker         ARGV[3] epoch
-- ARGV[4] twin (the backup task of a chunk, the chunk of a backup)
-- ARGV[5] most recent durations kept
-- With the published task's counts (fanout.AckCounter), also:
-- KEYS[9] counted set    KEYS[10] counts hash
-- ARGV[6] task counted (the chunk, for a backup too)
-- ARGV[7] records in     ARGV[8] records out    ARGV[9] bytes in
--
-- Result: {OK}, also when the chunk is already done (whoever acked it);
-- {LEASE_LOST}; {UNKNOWN_JOB}. The task hashes are deleted: done is
-- final. A backup acked after its chunk was dead-lettered is only
-- forgotten: the chunk's marker (failed, or the backup's if it came
-- first) is the truth, and a dead chunk must stay redrivable. Counts are
-- added once per task (as count.lua adds them) before the ack, whatever
-- the ack finds: the marker that earned them is written.
--
-- The recent durations list is trimmed to ARGV[5] once it holds twice
-- that many (activity.lua reads the first ARGV[5]), not at every ack.
if not SPEC and redis.call('EXISTS', KEYS[4]) == 0 then
  return {UNKNOWN_JOB}
end
if ARGV[6] and redis.call('SADD', KEYS[9], ARGV[6]) == 1 then
  redis.call('HINCRBY', KEYS[10], 'records_in', ARGV[7])
  redis.call('HINCRBY', KEYS[10], 'records_out', ARGV[8])
  redis.call('HINCRBY', KEYS[10], 'bytes_in', ARGV[9])
end
local chunk = ARGV[1]
if is_backup(chunk) then
  chunk = ARGV[4]
end
-- A task whose lease is held is not done: the ack that makes its chunk
-- done deletes both twins' hashes, and nothing claims a done chunk.
local v = lease_fields(KEYS[1], ARGV[2], ARGV[3], 'claimed', 'backed_up')
if not v then
  if redis.call('SISMEMBER', KEYS[3], chunk) == 1 then
    return {OK}
  end
  return {LEASE_LOST}
end
if chunk ~= ARGV[1] and redis.call('HEXISTS', KEYS[7], chunk) == 1 then
  forget_held(KEYS[1], ARGV[1], KEYS[2])
  return {OK}
end
local claimed = tonumber(v[4])
if claimed then
  local keep = tonumber(ARGV[5])
  if redis.call('LPUSH', KEYS[8], (NOW or now_ms()) - claimed) > 2 * keep then
    redis.call('LTRIM', KEYS[8], 0, keep - 1)
  end
end
forget_held(KEYS[1], ARGV[1], KEYS[2])
-- A chunk's backup task exists only if the chunk had one (backed_up).
if chunk ~= ARGV[1] or v[5] then
  forget(KEYS[5], ARGV[4], KEYS[6], KEYS[2], KEYS[7])
end
redis.call('SADD', KEYS[3], chunk)
return {OK}
