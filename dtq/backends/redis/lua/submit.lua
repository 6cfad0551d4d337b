-- The coordinator submits arrivals: ARGV: op number, then one JSON array of
-- [id, type, priority, instant]. A retried call (same op number) submits nothing twice.
if STATE ~= 'running' or not take_op(ARGV[1]) then
  return 0
end
local added = 0
for _, task in ipairs(cjson.decode(ARGV[2])) do
  local id = task[1]
  local rec = {ty = task[2], p = task[3], i = task[4] and 1 or 0, n = 0}
  if EXPIRES and EXPIRES[rec.ty] ~= nil then
    rec.su = NOW -- when its expiry counts from
  end
  enqueue(id, rec, NOW)
  put(id, rec)
  emit({'task_submitted', NOW, id, rec.ty, rec.p})
  added = added + 1
end
count('submitted', added)
ring()
flush()
return added
