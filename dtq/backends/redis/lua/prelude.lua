-- Shared head of every dtq script (the loader puts it in front of each body).
--
-- The run's state: KEYS, the run clock read from the server's TIME (so workers on
-- different machines agree on `t`), the task records, the queues, and the events the
-- script emits. Every event goes to the run's stream in one XADD at the end of the
-- script, so the stream's order is the order in which the state changed.
local K_META, K_TASKS, K_READY, K_DELAYED, K_LEASES, K_EVENTS = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local K_DLQ, K_WORKERS, K_COUNTS, K_DOWN, K_WAKE, K_NAMES = KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11], KEYS[12]
local K_DEPS, K_CALLS, K_SERVING, K_BUDGETS = KEYS[13], KEYS[14], KEYS[15], KEYS[16]
-- The run's own keys are KEYS[1] to KEYS[RUN_KEYS]; then the namespace's `current` pointer.
local RUN_KEYS = 16
local K_CURRENT = KEYS[17]
-- Each worker's turn list (a call of its that waited in line got a slot): `turn:<worker>`.
local K_TURN = string.sub(K_META, 1, -5) .. 'turn:'

local M = redis.call('HMGET', K_META, 's0', 'u0', 'scale', 'state', 'pw', 'rate', 'vt_ms', 'outages', 'max_attempts',
  'budgets', 'expires', 'type_attempts')
if not M[1] then
  return redis.error_reply('DTQ_GONE the state of this run is gone from Redis')
end
local STATE, PRIORITY_WEIGHT, WAIT_WEIGHT = M[4], tonumber(M[5]), tonumber(M[6])
local VT_MS, OUTAGES, MAX_ATTEMPTS = tonumber(M[7]), M[8], tonumber(M[9])
-- Per task type: its retry budget ({o = owner, r = ratio, m = reserve, w = window}) and
-- its `expires` (seconds); empty for runs without them.
local BUDGET_SPECS = M[10] and M[10] ~= '{}' and cjson.decode(M[10]) or nil
local EXPIRES = M[11] and M[11] ~= '{}' and cjson.decode(M[11]) or nil
-- Task types whose own retry block sets max_attempts: {max_attempts, dead-letter reason
-- of a lost last attempt}; the others have the scenario's (MAX_ATTEMPTS, the caller's).
local TYPE_ATTEMPTS = M[12] and M[12] ~= '{}' and cjson.decode(M[12]) or nil
-- Defined by the dependency part (deps.lua), used by fail and lose below: a call whose
-- attempt is over is abandoned at the dependency; a retry asks its type's budget.
local abandon_call, budget_allows, budget_deposit

-- A coordinator's call (submit, fault, crash, restart) carries an op number: a retried
-- call, its number already taken, does nothing twice. True if `arg` is a new number.
local function take_op(arg)
  local op = tonumber(arg)
  if op <= tonumber(redis.call('HGET', K_META, 'op') or '0') then
    return false
  end
  redis.call('HSET', K_META, 'op', op)
  return true
end

local function round6(x)
  return math.floor(x * 1000000 + 0.5) / 1000000
end

local TM = redis.call('TIME')
-- Wall milliseconds (leases, heartbeats) and seconds on the scenario clock (events).
local NOW_MS = tonumber(TM[1]) * 1000 + math.floor(tonumber(TM[2]) / 1000)
local NOW = round6(((tonumber(TM[1]) - tonumber(M[1])) * 1000000 + tonumber(TM[2]) - tonumber(M[2])) * tonumber(M[3]) / 1000000)

-- Numbers handed to redis.call become strings with 14 digits; scores need all 17.
local function exact(x)
  return string.format('%.17g', x)
end

local OUT = {}
local function emit(ev)
  OUT[#OUT + 1] = ev
end

local COUNTS = {}
local function count(field, n)
  COUNTS[field] = (COUNTS[field] or 0) + (n or 1)
end

-- Commands taking many arguments are sent in slices (Lua's stack limits unpack).
local SLICE = 2000
local function call_sliced(command, key, args)
  for i = 1, #args, SLICE do
    redis.call(command, key, unpack(args, i, math.min(i + SLICE - 1, #args)))
  end
end

-- Task records are read once (HMGET for many) and written back once, at the end.
local RECS, DIRTY = {}, {}

local function prefetch(ids)
  local need = {}
  for _, id in ipairs(ids) do
    if RECS[id] == nil then
      need[#need + 1] = id
    end
  end
  for i = 1, #need, SLICE do
    local part = {unpack(need, i, math.min(i + SLICE - 1, #need))}
    local raws = redis.call('HMGET', K_TASKS, unpack(part))
    for j, id in ipairs(part) do
      RECS[id] = raws[j] and cjson.decode(raws[j]) or false
    end
  end
end

local function get(id)
  if RECS[id] == nil then
    prefetch({id})
  end
  return RECS[id] or nil
end

local function put(id, rec)
  RECS[id] = rec
  DIRTY[id] = true
end

local function drop(id)
  RECS[id] = false
  DIRTY[id] = true
end

-- The ready queue's order: score = the core's ordering key (dtq/core/queues.py decides
-- the two weights per policy; this only computes the sum), member = a zero-padded
-- global sequence then the id, so equal scores pop first-in first-out (members of equal
-- score sort byte by byte, and fixed-width decimals sort as numbers).
local function score(priority, ready_t)
  return priority * PRIORITY_WEIGHT + ready_t * WAIT_WEIGHT
end

local SEQ = nil
local function member(id)
  if SEQ == nil then
    SEQ = tonumber(redis.call('HGET', K_META, 'seq') or '0')
  end
  SEQ = SEQ + 1
  return string.format('%015d', SEQ) .. id
end

local function id_of(m)
  return string.sub(m, 16)
end

local WOKEN = 0
local function wake(n)
  WOKEN = WOKEN + n
end

local function ring()
  if WOKEN > 0 then
    local tokens = {}
    for i = 1, math.min(WOKEN, 64) do
      tokens[i] = '1'
    end
    redis.call('LPUSH', K_WAKE, unpack(tokens))
    redis.call('LTRIM', K_WAKE, 0, 255)
  end
end

-- Tasks joining the ready queue are added in one ZADD (before any read of the queue).
local READY_ADDS = {}
local function enqueue(id, rec, ready_t)
  rec.s = 'q'
  rec.r = ready_t
  READY_ADDS[#READY_ADDS + 1] = exact(score(rec.p, ready_t))
  READY_ADDS[#READY_ADDS + 1] = member(id)
  wake(1)
end

local function apply_ready()
  if #READY_ADDS > 0 then
    call_sliced('ZADD', K_READY, READY_ADDS)
    READY_ADDS = {}
  end
end

-- Write everything back, then log the script's events in one stream entry.
local function flush()
  apply_ready()
  local sets, dels = {}, {}
  for id in pairs(DIRTY) do
    if RECS[id] then
      sets[#sets + 1] = id
      sets[#sets + 1] = cjson.encode(RECS[id])
    else
      dels[#dels + 1] = id
    end
  end
  if #sets > 0 then
    call_sliced('HSET', K_TASKS, sets)
  end
  if #dels > 0 then
    call_sliced('HDEL', K_TASKS, dels)
  end
  if SEQ ~= nil then
    redis.call('HSET', K_META, 'seq', SEQ)
  end
  for field, n in pairs(COUNTS) do
    redis.call('HINCRBY', K_COUNTS, field, n)
  end
  if #OUT > 0 then
    redis.call('XADD', K_EVENTS, '*', 'e', cjson.encode(OUT))
  end
end

-- A task reached its end. Its record stays only while an attempt whose lease was
-- lost may still report (a duplicate run); otherwise nothing can refer to it again.
local function end_task(id, rec, how)
  redis.call('ZREM', K_LEASES, id)
  if rec.x ~= nil then
    rec.e = how
    if rec.s == 'r' then
      rec.s = 'x'
    end
    put(id, rec)
  else
    drop(id)
  end
end

-- Attempts claimed together (they take no time) share their worker's time between
-- them, so a worker's busy time stays the time it really held work.
local RUN_SHARE = 1

local function succeed(id, rec, worker, n, started_t)
  emit({'task_succeeded', NOW, id, rec.ty, rec.p, n, worker, round6((NOW - started_t) / RUN_SHARE)})
  count('succeeded')
  end_task(id, rec, 'ok')
end

-- The running attempt of `rec` failed with `err`; the retry decision was taken by the
-- caller from the pure core (retry, its delay, or the dead-letter reason), and the
-- type's retry budget, if any, has the last word. `dep` and `retry_after` name the
-- dependency that turned a call away (task_failed carries them, as in memory).
local function fail(id, rec, worker, err, message, retry, delay_s, reason, dep, retry_after)
  local n = rec.n
  if rec.c ~= nil then
    abandon_call(rec.c) -- its call stays at the dependency (or is cancelled) first
    rec.c = nil
  end
  if rec.ff == nil then
    rec.ff = NOW
  end
  rec.le = err
  if retry and not budget_allows(rec.ty) then
    retry, reason = false, 'budget'
  end
  local retry_at = cjson.null
  if retry then
    retry_at = round6(NOW + delay_s)
  end
  local ev = {'task_failed', NOW, id, rec.ty, rec.p, n, worker, err, message, retry, retry_at, round6((NOW - rec.st) / RUN_SHARE)}
  if dep ~= nil and dep ~= '' then
    ev[1] = 'task_failed/dep'
    ev[13] = dep
    if retry_after ~= nil and retry_after ~= cjson.null then
      ev[1] = 'task_failed/throttled'
      ev[14] = retry_after
    end
  end
  emit(ev)
  count('failed')
  redis.call('ZREM', K_LEASES, id)
  if retry then
    count('retried')
    rec.s = 'd'
    rec.w = nil
    redis.call('ZADD', K_DELAYED, exact(retry_at), member(id))
    put(id, rec)
    return
  end
  count('dead_lettered')
  emit({'task_dead_lettered', NOW, id, rec.ty, rec.p, n, reason, n, rec.ff, err})
  redis.call('HSET', K_DLQ, id, cjson.encode({
    type = rec.ty, priority = rec.p, reason = reason, attempts = n, last_error = err,
    first_failed_t = rec.ff, t = NOW,
  }))
  end_task(id, rec, 'dlq')
end

-- The lease of the running attempt is gone (expired, or its worker left): the attempt
-- counts, and the task runs again at once, or goes to the DLQ once attempts are spent.
-- The lost attempt is remembered in `x`, so what it reports later is a duplicate.
local function lose(id, rec, reason, message)
  local n, lost = rec.n, rec.w
  if rec.c ~= nil then
    abandon_call(rec.c)
    rec.c = nil
  end
  rec.x = rec.x or {}
  rec.x[tostring(n)] = rec.st
  redis.call('ZREM', K_LEASES, id)
  local own = TYPE_ATTEMPTS and TYPE_ATTEMPTS[rec.ty]
  if own ~= nil then
    reason = own[2]
  end
  if n < (own and own[1] or MAX_ATTEMPTS) then
    enqueue(id, rec, NOW)
    rec.w = nil
    put(id, rec)
    emit({'task_redelivered', NOW, id, rec.ty, rec.p, n + 1, lost})
    count('redelivered')
  else
    fail(id, rec, lost, 'crash', message, false, 0, reason)
  end
end

-- Retries whose backoff is over join the ready queue, ready since their due time.
local function release_due()
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', exact(NOW), 'WITHSCORES', 'LIMIT', 0, 1000)
  if #due == 0 then
    return
  end
  local members, ids = {}, {}
  for i = 1, #due, 2 do
    ids[#ids + 1] = id_of(due[i])
  end
  prefetch(ids)
  for i = 1, #due, 2 do
    local id = id_of(due[i])
    local rec = get(id)
    members[#members + 1] = due[i]
    if rec ~= nil then
      enqueue(id, rec, tonumber(due[i + 1]))
      put(id, rec)
      emit({'task_retry_ready', NOW, id, rec.ty, rec.p, rec.n + 1})
    end
  end
  redis.call('ZREM', K_DELAYED, unpack(members))
end

-- Give every key of the run (and the `current` pointer, if it still names this run) a
-- time to live: a run whose coordinator died leaves nothing behind for good.
local function expire_run(ttl_ms)
  for i = 1, RUN_KEYS do
    redis.call('PEXPIRE', KEYS[i], ttl_ms)
  end
  if redis.call('GET', K_CURRENT) == redis.call('HGET', K_META, 'run') then
    redis.call('PEXPIRE', K_CURRENT, ttl_ms)
  end
end

-- Renew a worker's registration; one declared lost but alive after all comes back.
local function ensure_registered(worker)
  if redis.call('ZSCORE', K_WORKERS, worker) then
    redis.call('ZADD', K_WORKERS, NOW_MS + VT_MS, worker)
    return
  end
  local host = redis.call('HGET', K_NAMES, worker)
  if host and host ~= '' then
    redis.call('ZADD', K_WORKERS, NOW_MS + VT_MS, worker)
    emit({'worker_restarted', NOW, worker})
  end
end
