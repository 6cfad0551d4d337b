-- A worker settles the attempts it finished, then claims its next ones.
-- ARGV: worker, claim limit, then the outcomes as one JSON array (one string, not
-- hundreds of arguments) of [task id, attempt, ok, error, message, retry, delay_s,
-- dead-letter reason, dependency that turned a call away or '', its retry_after or null].
-- Returns {state, active outages, down (1/0), JSON array of [task id, attempt] claimed}.
local worker, want = ARGV[1], tonumber(ARGV[2])
if STATE ~= 'running' then
  return {STATE}
end
ensure_registered(worker)

-- Only the lease holder's outcome moves the task on. An attempt whose lease was lost
-- (or a run of a task that had already ended) is a duplicate: it is logged, and it
-- changes nothing except that the first success of a task not yet ended ends it.
local function settle(id, n, ok, err, message, retry, delay_s, reason, dep, retry_after)
  local rec = get(id)
  if rec == nil then
    return
  end
  if rec.s == 'r' and rec.w == worker and rec.n == n then
    if ok then
      succeed(id, rec, worker, n, rec.st)
    else
      fail(id, rec, worker, err, message, retry, delay_s, reason, dep, retry_after)
    end
    return
  end
  local started = rec.x and rec.x[tostring(n)]
  if started == nil then
    return -- a crash fault already failed this attempt, or this call is a retried one
  end
  if not ok then
    emit({'task_failed/duplicate', NOW, id, rec.ty, rec.p, n, worker, err, message, false, cjson.null, round6(NOW - started), true})
    count('failed')
    return
  end
  if rec.e == nil then
    if rec.s == 'r' then
      rec.x[tostring(rec.n)] = rec.st -- the redelivered copy still running is now the duplicate
    end
    succeed(id, rec, worker, n, started)
  elseif rec.e == 'ok' then
    emit({'task_succeeded', NOW, id, rec.ty, rec.p, n, worker, round6(NOW - started)})
  end
  -- A late success of a task already dead-lettered is not logged: the task has ended.
end

-- A task not started within its type's `expires` of its submission.
local function is_expired(rec)
  local expires_s = EXPIRES and EXPIRES[rec.ty]
  return expires_s ~= nil and rec.su ~= nil and NOW - rec.su > expires_s
end

local function expire(id, rec)
  local last = rec.le or 'expired'
  count('dead_lettered')
  emit({'task_dead_lettered', NOW, id, rec.ty, rec.p, rec.n, 'expired', rec.n, rec.ff or cjson.null, last})
  redis.call('HSET', K_DLQ, id, cjson.encode({
    type = rec.ty, priority = rec.p, reason = 'expired', attempts = rec.n, last_error = last,
    first_failed_t = rec.ff, t = NOW,
  }))
  end_task(id, rec, 'dlq')
end

-- Attempt rec.n + 1 of task `id` starts on this worker (under a lease unless the task
-- already ended: then it is a duplicate run); returns what the worker runs.
local function start(id, rec, leases)
  local n = rec.n + 1
  rec.n = n
  emit({'task_started', NOW, id, rec.ty, rec.p, n, worker, round6(NOW - rec.r)})
  count('started')
  if n == 1 and BUDGET_SPECS then
    budget_deposit(rec.ty)
  end
  if rec.e ~= nil then
    rec.s = 'x' -- the task ended while this copy waited: a duplicate run, without a lease
    rec.x[tostring(n)] = NOW
  else
    rec.s = 'r'
    rec.w = worker
    rec.st = NOW
    leases[#leases + 1] = NOW_MS + VT_MS
    leases[#leases + 1] = id
  end
  put(id, rec)
  return {id, n}
end

local outcomes = cjson.decode(ARGV[3])
RUN_SHARE = math.max(1, #outcomes) -- only attempts that take no time are claimed together
local settling = {}
for i, o in ipairs(outcomes) do
  settling[i] = o[1]
end
prefetch(settling)
for _, o in ipairs(outcomes) do
  settle(o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8], o[9], o[10])
end

release_due()
apply_ready()

-- Claim in policy order. Attempts that take no time are claimed together (their
-- start times are exact however many are taken); any other task is claimed alone, so
-- a claimed task never waits behind another one on the same worker.
local down = redis.call('HEXISTS', K_DOWN, worker)
local claimed = {}
if want > 0 and down == 0 then
  local items = redis.call('ZRANGE', K_READY, 0, want - 1)
  local ids, leases = {}, {}
  for i, m in ipairs(items) do
    ids[i] = id_of(m)
  end
  -- Read the records past the first only when a batch is possible at all.
  local first = ids[1] and get(ids[1])
  if first and first.i == 1 then
    prefetch(ids)
  end
  local taken = 0
  local instant_batch = nil
  for i, id in ipairs(ids) do
    local rec = get(id)
    if EXPIRES and rec ~= nil and rec.e == nil and is_expired(rec) then
      expire(id, rec) -- dead-lettered on delivery: it never starts
    else
      local instant = rec ~= nil and rec.i == 1
      if instant_batch == nil then
        instant_batch = instant
      elseif not instant_batch or not instant then
        break
      end
      if rec ~= nil then
        claimed[#claimed + 1] = start(id, rec, leases)
      end
    end
    taken = i
  end
  if taken > 0 then
    redis.call('ZREMRANGEBYRANK', K_READY, 0, taken - 1)
  end
  if #leases > 0 then
    redis.call('ZADD', K_LEASES, unpack(leases))
  end
end
ring()
flush()
return {STATE, OUTAGES or '', down, #claimed > 0 and cjson.encode(claimed) or '[]'}
