-- A run begins (no prelude: its state does not exist yet). KEYS[1]: the run's meta
-- hash, KEYS[2]: the namespace's pointer to the current run. ARGV: run id, then
-- field/value pairs for the meta hash. Returns the server time the run clock starts at.
local tm = redis.call('TIME')
local beat_ms = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
redis.call('HSET', KEYS[1], 's0', tm[1], 'u0', tm[2], 'state', 'running', 'seq', 0, 'wseq', 0, 'op', 0,
  'run', ARGV[1], 'beat_ms', beat_ms, unpack(ARGV, 2))
redis.call('SET', KEYS[2], ARGV[1])
return tm
