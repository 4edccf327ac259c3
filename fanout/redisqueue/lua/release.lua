-- release.lua gives a leased chunk back, claimable now, fenced on worker
-- and epoch. The delivery is refunded so that a clean release never counts
-- towards the delivery limit; nothing else changes (the epoch stays
-- bumped, so the released lease stays dead).
--
-- KEYS[1] chunk hash     KEYS[2] leases zset    KEYS[3] pending zset
-- KEYS[4] spec hash      KEYS[5] wake list
-- ARGV[1] chunk          ARGV[2] worker         ARGV[3] epoch
--
-- Result: {OK}; {LEASE_LOST}; {UNKNOWN_JOB}.
if redis.call('EXISTS', KEYS[4]) == 0 then
  return {UNKNOWN_JOB}
end
if not holds(KEYS[1], ARGV[2], ARGV[3]) then
  return {LEASE_LOST}
end
redis.call('ZREM', KEYS[2], ARGV[1])
if is_backup(ARGV[1]) then
  redis.call('DEL', KEYS[1]) -- forgotten: the original still runs
  return {OK}
end
redis.call('HINCRBY', KEYS[1], 'deliveries', -1)
to_pending(KEYS[1], KEYS[3], ARGV[1], now_ms())
wake(KEYS[5], 1)
return {OK}
