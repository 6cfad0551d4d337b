-- A worker process is alive: renew its workers' registrations and its leases.
-- ARGV: worker count k, k names, then per lease held: task id, attempt, worker.
-- Returns {state, active outages, workers of this process that a crash fault holds down}.
if STATE ~= 'running' then
  return {STATE}
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
