"""Queue backends that hold a run's state outside the process: Redis.

The in-memory backend is the pure core's own heap (`dtq.core.queues`), driven by the
threaded and virtual engines. The Redis backend keeps the same queues in Redis, so
workers on many machines share them: `redis_store` (keys and atomic Lua scripts),
`redis_worker` (worker threads), `redis_wire` (events on the stream), `redis_conn`
(connections that ride out short outages). The coordinator is `dtq.engine.redis_engine`.
"""
