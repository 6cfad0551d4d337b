-- Which live workers hold which leases (for picking a crash fault's victims).
-- Returns {name1, {id, attempt, ...}, name2, {...} ...} for workers not held down.
local held = {}
for _, id in ipairs(redis.call('ZRANGE', K_LEASES, 0, -1)) do
  local rec = get(id)
  if rec and rec.s == 'r' then
    held[rec.w] = held[rec.w] or {}
    table.insert(held[rec.w], id)
    table.insert(held[rec.w], rec.n)
  end
end
local out = {}
for _, w in ipairs(redis.call('ZRANGE', K_WORKERS, 0, -1)) do
  if redis.call('HEXISTS', K_DOWN, w) == 0 then
    out[#out + 1] = w
    out[#out + 1] = held[w] or {}
  end
end
return out
