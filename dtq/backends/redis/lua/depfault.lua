-- The coordinator starts or ends a slowdown or an outage of a dependency.
-- ARGV: op number, dependency index, kind (slowdown | outage), starts (1/0), slot
-- factor, latency factor, error, rate, fault index, the fault's event (a JSON object).
if STATE ~= 'running' or not take_op(ARGV[1]) then
  return STATE
end
sweep_calls()
emit({'=', NOW, ARGV[10]})
local index = tonumber(ARGV[2])
local d = dep_get(index)
local starts = ARGV[4] == '1'
if ARGV[3] == 'outage' then
  d.out = starts and {i = tonumber(ARGV[9]), err = ARGV[7], rate = tonumber(ARGV[8])} or nil
else
  d.f = starts and tonumber(ARGV[5]) or 1
  d.lf = starts and tonumber(ARGV[6]) or 1
  -- Calls in service finish as they are; a slowdown's end gives slots to the line.
  announce(fill(d), d)
end
dep_save(index, d)
flush()
return STATE
