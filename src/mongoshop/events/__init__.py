"""The event worker: change streams → the mail outbox → the sender.

It wires handlers (on the async face) to `mongoshop.streams` consumers and runs the
`mongoshop.mail` sender. Delivery is at-least-once (resume tokens are saved after
each event's effects), so every handler is idempotent.
"""
