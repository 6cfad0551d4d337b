-- The coordinator starts or ends outages: ARGV: op number, the active outage indices
-- (comma-separated, what workers read at claim time), then the events to log, each
-- a JSON object built in Python (the script adds the time).
if STATE ~= 'running' or not take_op(ARGV[1]) then
  return STATE
end
redis.call('HSET', K_META, 'outages', ARGV[2])
for i = 3, #ARGV do
  emit({'=', NOW, ARGV[i]})
end
flush()
return STATE
