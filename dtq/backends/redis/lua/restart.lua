-- Crashed workers come back: ARGV: op number, then their names.
if STATE ~= 'running' then
  return STATE
end
local op = tonumber(ARGV[1])
if op <= tonumber(redis.call('HGET', K_META, 'op') or '0') then
  return STATE
end
redis.call('HSET', K_META, 'op', op)
for i = 2, #ARGV do
  if redis.call('HDEL', K_DOWN, ARGV[i]) == 1 then
    emit({'worker_restarted', NOW, ARGV[i]})
  end
end
ring()
flush()
return STATE
