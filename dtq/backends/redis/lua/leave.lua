-- Workers leave the run before its end. Attempts they still hold are given back at
-- once (redelivered, as a lost lease would be after the visibility timeout).
-- ARGV: dead-letter reason, worker count k, k names, then per lease: id, attempt, worker.
if STATE ~= 'running' then
  return STATE
end
local k = tonumber(ARGV[2])
for i = k + 3, #ARGV, 3 do
  local id, n, w = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local rec = get(id)
  if rec and rec.s == 'r' and rec.n == n and rec.w == w then
    lose(id, rec, ARGV[1], 'worker ' .. w .. ' left the run before the attempt finished')
  end
end
for i = 3, k + 2 do
  redis.call('ZREM', K_WORKERS, ARGV[i])
  redis.call('HSET', K_NAMES, ARGV[i], '')
  redis.call('HDEL', K_DOWN, ARGV[i])
  emit({'worker_stopped', NOW, ARGV[i]})
end
ring()
flush()
return STATE
