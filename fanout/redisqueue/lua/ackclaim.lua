-- ackclaim.lua acks a published task and adds its counts as ack.lua does
-- and, when the ack succeeded, claims the job's next ready chunk as
-- claim.lua does: a worker's one round trip between two chunks
-- (fanout.AckClaimer). The two scripts run unchanged as the functions
-- ack(K, A, SPEC, NOW) and claim(K, A, SPEC, NOW), with their KEYS and
-- ARGV renamed K and A (scripts.go prepends them); the spec is read and
-- the clock read once, here, for both.
--
-- KEYS[1..10] ack.lua's KEYS, the counted set and counts hash included;
-- claim.lua's KEYS are among them: KEYS[4] spec hash, KEYS[6] pending
-- zset, KEYS[2] leases zset, KEYS[7] dead hash; and KEYS[11] wake list
-- ARGV[1] n, the number of ack.lua's ARGV
-- ARGV[2..n+1] ack.lua's ARGV       ARGV[n+2..] claim.lua's ARGV
--
-- Result: ack.lua's result when it is not {OK}; else {OK} followed by
-- claim.lua's result ({OK, chunk, epoch, deadline ms, deliveries,
-- failures} or {NO_WORK}).
local spec = load_spec(KEYS[4])
if not spec then
  return {UNKNOWN_JOB}
end
local now = now_ms()
local n = tonumber(ARGV[1])
local a, c = {}, {}
for i = 2, n + 1 do
  a[#a + 1] = ARGV[i]
end
for i = n + 2, #ARGV do
  c[#c + 1] = ARGV[i]
end
local r = ack(KEYS, a, spec, now)
if r[1] ~= OK then
  return r
end
local res = {OK}
for _, v in ipairs(claim({KEYS[4], KEYS[6], KEYS[2], KEYS[7], KEYS[11]}, c, spec, now)) do
  res[#res + 1] = v
end
return res
