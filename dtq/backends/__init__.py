"""Queue backends that hold a run's state outside the process: Redis.

The in-memory backend is the pure core's own heap (`dtq.core.queues`), driven by the
threaded and virtual engines. The Redis backend (`dtq.backends.redis`) keeps the same
queues in Redis, so workers on many machines share them. The coordinator is
`dtq.engine.distributed`.
"""
