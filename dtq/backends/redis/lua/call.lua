-- A worker's stepped attempt calls a dependency, or ends its call once served.
-- ARGV: 'offer', worker, call id, task id, attempt, dependency index, service seconds
--   (before a slowdown's factor), the attempt's outage draw, its timeout ('' if none).
--   Returns {'started', service s} | {'line'} (the worker waits on its turn list) |
--   {'rejected', error, message, retry_after or ''} | {'timeout'} | {'gone'} (a crash
--   fault ended the attempt).
-- ARGV: 'end', worker, call id, task id, attempt. Returns {outcome} (ok | conflict) once
--   the call was served (its end is the run clock's: a sweep ends it when due), or
--   {'serving', seconds left} | {'timeout'} (the attempt's time ran out first) | {'gone'}.
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
  if ARGV[9] ~= '' then
    c.dl = (holder and rec.st or rec.x[tostring(n)]) + tonumber(ARGV[9])
  end
  if c.dl ~= nil and c.dl <= NOW then
    reply = {'timeout'} -- the attempt's time ran out (by the run clock) before it called
  else
    reply = offer_call(call, c, c.d, tonumber(ARGV[8]))
  end
  if holder and (reply[1] == 'started' or reply[1] == 'line') then
    rec.c = call -- what to abandon if the attempt ends early (timeout, crash, lost lease)
    put(id, rec)
  end
else
  local raw = redis.call('HGET', K_CALLS, call)
  if not raw then
    -- Abandoned when its attempt's time ran out (by the run clock), then served or cancelled.
    reply = {'timeout'}
  else
    local c = cjson.decode(raw)
    if c.s == nil then
      reply = {'line'} -- not served yet: a worker asks only once its call has a slot
    elseif c.e == nil then
      -- Still in service by the run clock (the worker's clock ran ahead): how long yet.
      reply = {'serving', exact(math.max(0, c.s + c.sv - NOW))}
    else
      redis.call('HDEL', K_CALLS, call)
      reply = {c.e}
    end
  end
  if holder and reply[1] ~= 'serving' and reply[1] ~= 'line' then
    rec.c = nil
    put(id, rec)
  end
end
flush()
return reply
