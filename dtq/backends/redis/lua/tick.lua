-- The coordinator's periodic step: due retries become ready, workers that stopped
-- sending heartbeats are declared lost, expired leases are taken back.
-- ARGV: the dead-letter reason for a task whose lost attempt was its last.
-- Returns {state, live workers, ready tasks, submitted, ended}.
if STATE ~= 'running' then
  return {STATE}
end
release_due()
local gone = redis.call('ZRANGEBYSCORE', K_WORKERS, '-inf', NOW_MS, 'LIMIT', 0, 100)
for _, w in ipairs(gone) do
  redis.call('ZREM', K_WORKERS, w)
  emit({'worker_lost', NOW, w, cjson.null,
    'no heartbeat for ' .. (VT_MS / 1000) .. 's (the visibility timeout): presumed dead'})
end
local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', NOW_MS, 'LIMIT', 0, 500)
prefetch(expired)
for _, id in ipairs(expired) do
  local rec = get(id)
  if rec and rec.s == 'r' then
    lose(id, rec, ARGV[1], 'lease lost: worker ' .. rec.w .. ' did not renew it within ' .. (VT_MS / 1000) .. 's')
  else
    redis.call('ZREM', K_LEASES, id)
  end
end
ring()
flush()
local c = redis.call('HMGET', K_COUNTS, 'submitted', 'succeeded', 'dead_lettered')
local live = redis.call('ZCARD', K_WORKERS) - redis.call('HLEN', K_DOWN)
return {STATE, live, redis.call('ZCARD', K_READY), tonumber(c[1] or '0'),
  tonumber(c[2] or '0') + tonumber(c[3] or '0')}
