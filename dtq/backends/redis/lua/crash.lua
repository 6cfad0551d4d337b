-- A worker_crash fault: the victims die; each attempt they hold fails with `crash`
-- and follows the retry decision the coordinator took from the pure core.
-- ARGV: op number, the fault_started event (a JSON object), the
-- failure message, then per victim: name, held lease count c, then c times:
-- task id, attempt, retry (1/0), delay_s, dead-letter reason.
if STATE ~= 'running' or not take_op(ARGV[1]) then
  return STATE
end
emit({'=', NOW, ARGV[2]})
local message = ARGV[3]
local i = 4
while i <= #ARGV do
  local name, held = ARGV[i], tonumber(ARGV[i + 1])
  i = i + 2
  redis.call('HSET', K_DOWN, name, '1')
  local failing = {}
  for _ = 1, held do
    local id, n = ARGV[i], tonumber(ARGV[i + 1])
    local rec = get(id)
    if rec and rec.s == 'r' and rec.w == name and rec.n == n then
      failing[#failing + 1] = {id, rec, ARGV[i + 2] == '1', tonumber(ARGV[i + 3]), ARGV[i + 4]}
    end
    i = i + 5
  end
  emit({'worker_crashed', NOW, name, failing[1] and failing[1][1] or cjson.null})
  for _, f in ipairs(failing) do
    fail(f[1], f[2], name, 'crash', message, f[3], f[4], f[5])
  end
end
ring()
flush()
return STATE
