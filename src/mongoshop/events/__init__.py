"""Change-stream driven events: the mail outbox and its sender, cache invalidation.

Runs on the async face. Delivery is at-least-once (resume tokens are saved
after each event's effects), so every handler is idempotent.
"""
