"""The pure scheduling core: queues, policies, retry and DLQ decisions, keyed draws.

Nothing here reads a clock, starts a thread or does I/O: engines pass `now` in and
receive events through an injected `emit` callable.
"""
