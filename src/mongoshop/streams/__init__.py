"""Change-stream plumbing shared by the worker and the API's cache invalidation.

`consumer.StreamConsumer` runs one stream (resume tokens checkpointed after each
event's effects, or not at all for caches), `graceful` stops a set of them
without losing an event. What the events mean lives with their users: the
worker's handlers (`mongoshop.events.worker`) and the API's caches
(`mongoshop.api.cache_invalidation`).
"""
