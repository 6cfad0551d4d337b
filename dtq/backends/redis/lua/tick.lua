-- The coordinator's periodic step, and its heartbeat: due retries become ready,
-- workers that stopped sending heartbeats are declared lost, expired leases are taken
-- back, and the run's keys get their time to live renewed.
-- ARGV: the dead-letter reason for a task whose lost attempt was its last.
-- Returns {state, live workers, ready tasks, submitted, ended, calls still at dependencies}.
if STATE ~= 'running' then
  return {STATE}
end
local meta = redis.call('HMGET', K_META, 'beat_ms', 'ttl_at', 'keys_ttl_ms')
local gap = NOW_MS - tonumber(meta[1] or NOW_MS)
redis.call('HSET', K_META, 'beat_ms', NOW_MS)
if NOW_MS >= tonumber(meta[2] or '0') then
  local ttl = tonumber(meta[3] or '600000')
  expire_run(ttl)
  redis.call('HSET', K_META, 'ttl_at', NOW_MS + math.floor(ttl / 4))
end

-- A long gap since the last step means nobody could reach Redis (it was paused, or the
-- coordinator was): a worker's silence in that time proves nothing, so every
-- registration and lease gets the gap back before anyone is judged.
if gap > VT_MS / 2 then
  for _, key in ipairs({K_WORKERS, K_LEASES}) do
    local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    local pushed = {}
    for i = 1, #all, 2 do
      pushed[#pushed + 1] = exact(tonumber(all[i + 1]) + gap)
      pushed[#pushed + 1] = all[i]
    end
    if #pushed > 0 then
      call_sliced('ZADD', key, pushed)
    end
  end
end

release_due()
sweep_calls()

-- A lost worker's leases are taken back with it: its worker_crashed names the task it
-- held, and that task is delivered again at once.
local gone = redis.call('ZRANGEBYSCORE', K_WORKERS, '-inf', NOW_MS, 'LIMIT', 0, 100)
local held = {}
if #gone > 0 then
  local leased = redis.call('ZRANGE', K_LEASES, 0, -1)
  prefetch(leased)
  for _, id in ipairs(leased) do
    local rec = get(id)
    if rec and rec.s == 'r' then
      held[rec.w] = held[rec.w] or {}
      table.insert(held[rec.w], id)
    end
  end
end
for _, w in ipairs(gone) do
  redis.call('ZREM', K_WORKERS, w)
  local ids = held[w] or {}
  emit({'worker_lost', NOW, w, ids[1] or cjson.null,
    'no heartbeat for ' .. (VT_MS / 1000) .. 's (the visibility timeout): presumed dead'})
  for _, id in ipairs(ids) do
    lose(id, get(id), ARGV[1], 'lease lost: worker ' .. w .. ' was presumed dead')
  end
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
  tonumber(c[2] or '0') + tonumber(c[3] or '0'), tonumber(redis.call('HGET', K_META, 'calls_open') or '0')}
