-- The run ends. ARGV: status (completed | interrupted | failed), whether every task
-- must have ended first (1/0), then events to log before the end (JSON objects).
-- Returns {status, end marker id, counter, value, ...}, or {'busy'}.
if STATE ~= 'running' then
  return {STATE, ''}
end
if ARGV[2] == '1' then
  local c = redis.call('HMGET', K_COUNTS, 'submitted', 'succeeded', 'dead_lettered')
  -- A run lasts until every call is served too (abandoned ones included).
  local calls = tonumber(redis.call('HGET', K_META, 'calls_open') or '0')
  if tonumber(c[1] or '0') ~= tonumber(c[2] or '0') + tonumber(c[3] or '0') or calls > 0 then
    return {'busy'}
  end
end
redis.call('HSET', K_META, 'state', ARGV[1])
for i = 3, #ARGV do
  emit({'=', NOW, ARGV[i]})
end
flush()
local marker = redis.call('XADD', K_EVENTS, '*', 'end', ARGV[1])
local out = {ARGV[1], marker}
for _, v in ipairs(redis.call('HGETALL', K_COUNTS)) do
  out[#out + 1] = v
end
return out
