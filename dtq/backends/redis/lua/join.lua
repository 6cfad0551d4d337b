-- Workers join the run. ARGV: how many, the host they run on.
-- Returns {state, name1, name2 ...}: names `w01`, `w02` ... unique across the run.
if STATE ~= 'running' then
  return {STATE}
end
local names = {STATE}
for _ = 1, tonumber(ARGV[1]) do
  local name = string.format('w%02d', redis.call('HINCRBY', K_META, 'wseq', 1))
  redis.call('ZADD', K_WORKERS, NOW_MS + VT_MS, name)
  redis.call('HSET', K_NAMES, name, ARGV[2])
  emit({'worker_started', NOW, name, ARGV[2]})
  names[#names + 1] = name
end
flush()
return names
