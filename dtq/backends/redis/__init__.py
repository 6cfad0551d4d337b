"""The Redis backend: `store` (keys and atomic Lua scripts), `worker` (worker threads),
`wire` (events on the stream), `conn` (connections that ride out short outages)."""
