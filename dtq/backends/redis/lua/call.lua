-- A worker's stepped attempt calls a dependency, or ends its call once served.
-- ARGV: 'offer', worker, call id, task id, attempt, dependency index, service seconds
--   (before a slowdown's factor), the attempt's outage draw. Returns {'started',
--   service s} | {'line'} (the worker waits on its turn list) | {'rejected', error,
--   message, retry_after or ''} | {'gone'} (the attempt is no longer this worker's).
-- ARGV: 'end', worker, call id, task id, attempt. Returns {outcome} (ok | conflict) |
--   {'gone'}.
if STATE ~= 'running' then
  return {'gone'}
end
sweep_calls()
local what, worker, call, id, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local rec = get(id)
if not (rec and rec.s == 'r' and rec.w == worker and rec.n == n) then
  flush()
  return {'gone'}
end
local reply
if what == 'offer' then
  local c = {d = tonumber(ARGV[6]), w = worker, tid = id, ty = rec.ty, p = rec.p, n = n, a = NOW,
    sv = tonumber(ARGV[7])}
  reply = offer_call(call, c, c.d, tonumber(ARGV[8]))
  if reply[1] ~= 'rejected' then
    rec.c = call
    put(id, rec)
  end
else
  local raw = redis.call('HGET', K_CALLS, call)
  if not raw then
    reply = {'gone'}
  else
    local c = cjson.decode(raw)
    local outcome = c.e
    if outcome == nil then
      outcome = serve_end(call, c) -- its worker's clock ran out first: served now
    end
    redis.call('HDEL', K_CALLS, call)
    reply = {outcome}
  end
  rec.c = nil
  put(id, rec)
end
flush()
return reply
