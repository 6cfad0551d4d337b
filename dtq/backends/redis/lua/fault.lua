-- The coordinator starts or ends outages: ARGV: op number, the active outage indices
-- (comma-separated, what workers read at claim time), then the events to log, each
-- a JSON object built in Python (the script adds the time).
if STATE ~= 'running' then
  return STATE
end
local op = tonumber(ARGV[1])
if op <= tonumber(redis.call('HGET', K_META, 'op') or '0') then
  return STATE
end
redis.call('HSET', K_META, 'op', op, 'outages', ARGV[2])
for i = 3, #ARGV do
  emit({'=', NOW, ARGV[i]})
end
flush()
return STATE
