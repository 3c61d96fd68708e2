"""E-mail: templates, the outbox's documents, the transports (SMTP or files), the sender.

The services enqueue documents built here (`documents`); the sender
(`sender.OutboxSender`) claims them from the outbox under a lease and sends them
through a transport (`transport`). Delivery is at-least-once, and each e-mail is
keyed so that enqueuing it again does nothing.
"""
