-- Crashed workers come back: ARGV: op number, then their names.
if STATE ~= 'running' or not take_op(ARGV[1]) then
  return STATE
end
for i = 2, #ARGV do
  if redis.call('HDEL', K_DOWN, ARGV[i]) == 1 then
    emit({'worker_restarted', NOW, ARGV[i]})
  end
end
ring()
flush()
return STATE
