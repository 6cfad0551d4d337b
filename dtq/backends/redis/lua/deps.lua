-- Dependencies and retry budgets (after the prelude, before every script's body).
--
-- The slots, the first-come-first-served line and the token bucket of each downstream
-- that task steps call live here, so that workers on every machine contend for them as
-- real clients do. The rules are the pure model's (dtq/core/dependency.py and
-- dtq/core/budget.py), carried out atomically:
--
-- K_DEPS: dependency index -> JSON {name, cap (-1: unlimited), ql (-1: no limit), rate
--   (0: no bucket), burst, cancel, opt, n (calls in service), line (call ids, first come
--   first), tok, tok_t (the bucket), ver (optimistic record's version), f and lf (a
--   slowdown's slot and latency factors), out (an outage in force: i, err, rate)}.
-- K_CALLS: call id -> JSON {d, w (worker), tid, ty, p, n (attempt), a (arrived), sv
--   (service seconds), dl (its attempt's deadline), s (service started), rv (version
--   read), ab (abandoned), e (its outcome, once served and until its worker reads it)}.
-- K_SERVING: calls in service, scored by when their service ends on the run clock, and
--   `dl:<call id>` scored by its attempt's deadline. Any script that touches dependencies
--   (and the coordinator's tick) first carries out what is due, so a call nobody waits
--   for (abandoned, or its worker died) still ends, and a timeout is the run clock's.

local DEPS = {}
local function dep_get(i)
  local key = tostring(i)
  local d = DEPS[key]
  if d == nil then
    d = cjson.decode(redis.call('HGET', K_DEPS, key))
    DEPS[key] = d
  end
  return d
end

local function dep_save(i, d)
  redis.call('HSET', K_DEPS, tostring(i), cjson.encode(d))
end

-- Calls served at once now (nil: unlimited): a slowdown scales them, at least one.
local function slots(d)
  if d.cap < 0 then
    return nil
  end
  if d.f == 1 then
    return d.cap
  end
  return math.max(1, math.floor(d.cap * d.f))
end

local function has_free_slot(d)
  local s = slots(d)
  return s == nil or d.n < s
end

local function call_event(name, c, d, outcome, served_s)
  local waited = c.s ~= nil and (c.s - c.a) or (NOW - c.a)
  local ev = {name, NOW, c.tid, c.ty, c.p, c.n, d.name, round6(waited), d.n, #d.line}
  if outcome ~= nil then
    ev[11] = outcome
    ev[12] = served_s ~= nil and round6(served_s) or cjson.null
  end
  emit(ev)
end

local function begin_service(id, c, d)
  d.n = d.n + 1
  c.s = NOW
  c.rv = d.ver
  redis.call('ZADD', K_SERVING, exact(NOW + c.sv), id)
  redis.call('HSET', K_CALLS, id, cjson.encode(c))
end

-- Free slots go to the head of the line; returns the calls whose service starts.
local function fill(d)
  local started = {}
  while #d.line > 0 and has_free_slot(d) do
    local id = table.remove(d.line, 1)
    local c = cjson.decode(redis.call('HGET', K_CALLS, id))
    begin_service(id, c, d)
    started[#started + 1] = {id, c}
  end
  return started
end

-- Log the calls that started, and tell each one's worker, if it still waits for it, on
-- its turn list: `<call id> <service seconds>`.
local function announce(started, d)
  for _, item in ipairs(started) do
    local id, c = item[1], item[2]
    call_event('call_started', c, d)
    if not c.ab then
      local key = K_TURN .. c.w
      redis.call('RPUSH', key, id .. ' ' .. exact(c.sv))
      redis.call('PEXPIRE', key, 600000)
    end
  end
end

-- A call's service is over: its slot goes to the head of the line; its outcome stays
-- for its worker to read (a call nobody waits for is forgotten). Returns the outcome.
local function serve_end(id, c)
  local d = dep_get(c.d)
  d.n = d.n - 1
  local conflict = false
  if d.opt then
    conflict = d.ver ~= c.rv
    if not conflict then
      d.ver = d.ver + 1
    end
  end
  local started = fill(d)
  local outcome = c.ab and 'abandoned' or (conflict and 'conflict' or 'ok')
  call_event('call_ended', c, d, outcome, NOW - c.s)
  announce(started, d)
  redis.call('ZREM', K_SERVING, id)
  redis.call('HINCRBY', K_META, 'calls_open', -1)
  if c.ab then
    redis.call('HDEL', K_CALLS, id)
  else
    c.e = outcome
    redis.call('HSET', K_CALLS, id, cjson.encode(c))
  end
  dep_save(c.d, d)
  return outcome
end

-- End every call whose service time is over, and abandon every call whose attempt's
-- timeout ran out (members `dl:<call id>`), in the order of those times: the run clock
-- decides, however late the worker behind a call is to notice.
local function sweep_calls()
  local due = redis.call('ZRANGEBYSCORE', K_SERVING, '-inf', exact(NOW), 'LIMIT', 0, 500)
  for _, member in ipairs(due) do
    local deadline = string.sub(member, 1, 3) == 'dl:'
    local id = deadline and string.sub(member, 4) or member
    local raw = redis.call('HGET', K_CALLS, id)
    if deadline then
      redis.call('ZREM', K_SERVING, member)
      if raw and cjson.decode(raw).e == nil then
        abandon_call(id) -- served in time, it would have an outcome for its worker
      end
    elseif raw then
      serve_end(id, cjson.decode(raw))
    else
      redis.call('ZREM', K_SERVING, member)
    end
  end
end

-- The attempt behind call `id` is over early (timed out, crashed, lost): the call keeps
-- its place in line and then its slot until served (a server cannot know its client
-- left), unless its dependency cancels abandoned calls.
abandon_call = function(id)
  local raw = redis.call('HGET', K_CALLS, id)
  if not raw then
    return
  end
  local c = cjson.decode(raw)
  if c.e ~= nil then
    redis.call('HDEL', K_CALLS, id) -- served already; only its worker's reading was left
    return
  end
  c.ab = true
  local d = dep_get(c.d)
  if not d.cancel then
    redis.call('HSET', K_CALLS, id, cjson.encode(c))
    return
  end
  local started, served_s = {}, nil
  if c.s == nil then
    for k, queued in ipairs(d.line) do
      if queued == id then
        table.remove(d.line, k)
        break
      end
    end
  else
    d.n = d.n - 1
    redis.call('ZREM', K_SERVING, id)
    started = fill(d)
    served_s = NOW - c.s
  end
  call_event('call_ended', c, d, 'cancelled', served_s)
  announce(started, d)
  redis.call('HDEL', K_CALLS, id)
  redis.call('HINCRBY', K_META, 'calls_open', -1)
  dep_save(c.d, d)
end

-- The token bucket: refilled for the time since it was last looked at, on the run clock.
local function take_token(d)
  local elapsed = NOW - d.tok_t
  if elapsed > 0 then
    d.tok = math.min(d.burst, d.tok + elapsed * d.rate)
    d.tok_t = NOW
  end
  if d.tok >= 1 then
    d.tok = d.tok - 1
    return true
  end
  return false
end

-- A call arrives at dependency `index`: {'started', service s} | {'line'} |
-- {'rejected', error, message, retry_after or ''}. `u` is the attempt's outage draw.
local function offer_call(id, c, index, u)
  local d = dep_get(index)
  if d.out ~= nil and u < d.out.rate then
    return {'rejected', d.out.err, d.name .. ' is down (fault ' .. d.out.i .. ')', ''}
  end
  if d.rate > 0 and not take_token(d) then
    dep_save(index, d)
    return {'rejected', 'throttled', d.name .. ' turned the call away (throttled)',
      exact((1 - d.tok) / d.rate)}
  end
  c.sv = c.sv * d.lf
  if #d.line == 0 and has_free_slot(d) then
    begin_service(id, c, d)
    call_event('call_started', c, d)
  elseif d.ql >= 0 and #d.line >= d.ql then
    dep_save(index, d)
    return {'rejected', 'overloaded', d.name .. ' turned the call away (overloaded)', ''}
  else
    d.line[#d.line + 1] = id
    redis.call('HSET', K_CALLS, id, cjson.encode(c))
  end
  redis.call('HINCRBY', K_META, 'calls_open', 1)
  if c.dl ~= nil then
    redis.call('ZADD', K_SERVING, exact(c.dl), 'dl:' .. id)
  end
  dep_save(index, d)
  if c.s ~= nil then
    return {'started', exact(c.sv)}
  end
  return {'line'}
end

-- Retry budgets: K_BUDGETS holds, per owner, the times of the first attempts (f) and
-- the retries granted (r) within the window. A retry is granted while the retries in
-- the window, this one included, are at most ratio x first attempts + the reserve.
local function budget_window(spec)
  local raw = redis.call('HGET', K_BUDGETS, 'o:' .. spec.o)
  local b = raw and cjson.decode(raw) or {f = {}, r = {}}
  local start = NOW - spec.w
  for _, field in ipairs({'f', 'r'}) do
    local kept = {}
    for _, t in ipairs(b[field]) do
      if t > start then
        kept[#kept + 1] = t
      end
    end
    b[field] = kept
  end
  return b
end

budget_deposit = function(ty)
  local spec = BUDGET_SPECS and BUDGET_SPECS[ty]
  if spec ~= nil then
    local b = budget_window(spec)
    b.f[#b.f + 1] = NOW
    redis.call('HSET', K_BUDGETS, 'o:' .. spec.o, cjson.encode(b))
  end
end

budget_allows = function(ty)
  local spec = BUDGET_SPECS and BUDGET_SPECS[ty]
  if spec == nil then
    return true
  end
  local b = budget_window(spec)
  local granted = #b.r + 1 <= spec.r * #b.f + spec.m + 1e-9
  if granted then
    b.r[#b.r + 1] = NOW
  end
  redis.call('HSET', K_BUDGETS, 'o:' .. spec.o, cjson.encode(b))
  return granted
end
