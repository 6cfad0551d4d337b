-- A worker's stepped attempt calls a dependency, or ends its call once served.
-- ARGV: 'offer', worker, call id, task id, attempt, dependency index, service seconds
--   (before a slowdown's factor), the attempt's outage draw. Returns {'started',
--   service s} | {'line'} (the worker waits on its turn list) | {'rejected', error,
--   message, retry_after or ''} | {'gone'} (a crash fault ended the attempt).
-- ARGV: 'end', worker, call id, task id, attempt. Returns {outcome} (ok | conflict) |
--   {'gone'}.
if STATE ~= 'running' then
  return {'gone'}
end
sweep_calls()
local what, worker, call, id, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local rec = get(id)
-- The lease holder's attempt, or a duplicate run (a lost attempt still going, or a copy
-- of a task that had ended): a duplicate's calls are real work for the dependency too.
local holder = rec ~= nil and rec.s == 'r' and rec.w == worker and rec.n == n
if not holder and not (rec ~= nil and rec.x ~= nil and rec.x[tostring(n)] ~= nil) then
  flush()
  return {'gone'}
end
local reply
if what == 'offer' then
  local c = {d = tonumber(ARGV[6]), w = worker, tid = id, ty = rec.ty, p = rec.p, n = n, a = NOW,
    sv = tonumber(ARGV[7])}
  reply = offer_call(call, c, c.d, tonumber(ARGV[8]))
  if holder and reply[1] ~= 'rejected' then
    rec.c = call -- what to abandon if the attempt ends early (timeout, crash, lost lease)
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
  if holder then
    rec.c = nil
    put(id, rec)
  end
end
flush()
return reply
