-- A worker process is alive: renew its workers' registrations and its leases, and
-- check that the coordinator is too.
-- ARGV: worker count k, k names, then per lease held: task id, attempt, worker.
-- Returns {state, active outages, workers of this process that a crash fault holds down},
-- or {'abandoned', ms of silence} when the coordinator has been silent past its deadline.
if STATE ~= 'running' then
  return {STATE}
end
local coordinator = redis.call('HMGET', K_META, 'beat_ms', 'coord_deadline_ms', 'abandon_ttl_ms')
local silent_ms = NOW_MS - tonumber(coordinator[1] or NOW_MS)
if coordinator[2] and silent_ms > tonumber(coordinator[2]) then
  -- Nobody will end this run: say so to every worker, and let its keys expire.
  redis.call('HSET', K_META, 'state', 'abandoned')
  expire_run(tonumber(coordinator[3] or '60000'))
  if redis.call('GET', K_CURRENT) == redis.call('HGET', K_META, 'run') then
    redis.call('DEL', K_CURRENT)
  end
  return {'abandoned', tostring(silent_ms)}
end
local k = tonumber(ARGV[1])
local down = {}
for i = 2, k + 1 do
  ensure_registered(ARGV[i])
  if redis.call('HEXISTS', K_DOWN, ARGV[i]) == 1 then
    down[#down + 1] = ARGV[i]
  end
end
for i = k + 2, #ARGV, 3 do
  local id, n, w = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local rec = get(id)
  if rec and rec.s == 'r' and rec.n == n and rec.w == w then
    redis.call('ZADD', K_LEASES, 'XX', NOW_MS + VT_MS, id)
  end
end
flush()
return {STATE, OUTAGES or '', table.concat(down, ',')}
