-- enqueue.lua registers a job and adds a batch of its chunks as pending.
--
-- KEYS[1] spec hash      KEYS[2] pending zset   KEYS[3] leases zset
-- KEYS[4] dead hash      KEYS[5] done set       KEYS[6] wake list
-- ARGV[1] job            ARGV[2] manifest       ARGV[3] lease (ns)
-- ARGV[4] max deliveries ARGV[5] max failures
-- ARGV[6] backoff base (ns)                     ARGV[7] backoff max (ns)
-- ARGV[8] function       ARGV[9] function version (empty: any)
-- ARGV[10..] chunk IDs (at most a few thousand: they are unpacked onto
--            Lua's stack)
--
-- A chunk added is ready at once, at a time spread over the 65,536 ms
-- before now by the first 16 bits of the SHA-1 of its ID (fanout.FreshReady:
-- claims then come out in a spread order, not by chunk ID; see
-- fanout.SpreadWindow).
--
-- Result: {OK, number of chunks added}. A chunk already known to the job
-- in any state (pending, running, dead or done) is left as it is. The spec
-- is written by every batch: the last enqueue's spec wins.
redis.call('HSET', KEYS[1], 'job', ARGV[1], 'manifest', ARGV[2],
  'lease_ns', ARGV[3], 'max_deliveries', ARGV[4], 'max_failures', ARGV[5],
  'backoff_base_ns', ARGV[6], 'backoff_max_ns', ARGV[7],
  'function', ARGV[8], 'function_version', ARGV[9])
local now = now_ms()
local chunks = {unpack(ARGV, 10)}
if #chunks == 0 then
  return {OK, 0}
end
-- One lookup per set for the whole batch.
local pending = redis.call('ZMSCORE', KEYS[2], unpack(chunks))
local leased = redis.call('ZMSCORE', KEYS[3], unpack(chunks))
local dead = redis.call('HMGET', KEYS[4], unpack(chunks))
local done = redis.call('SMISMEMBER', KEYS[5], unpack(chunks))
local add = {}
for i, chunk in ipairs(chunks) do
  if not pending[i] and not leased[i] and not dead[i] and done[i] == 0 then
    add[#add + 1] = now - 65536 + tonumber(string.sub(redis.sha1hex(chunk), 1, 4), 16)
    add[#add + 1] = chunk
  end
end
if #add == 0 then
  return {OK, 0}
end
local added = redis.call('ZADD', KEYS[2], unpack(add))
wake(KEYS[6], added)
return {OK, added}
