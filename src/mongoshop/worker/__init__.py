"""The worker: every loop that runs beside the API or on its own (`mongoshop worker`).

Above the two faces, below the applications: the change-stream consumers
(`streams`, checkpointed; the API's cache invalidation runs them too), one per
collection, shared by the mail and the webhooks (`event_streams`, `reactions`);
the event worker that runs them (`event_worker`); the mail sender and the webhook
deliverer (`mail_sender`, `webhook_deliverer`, both draining a leased queue with
`draining`); the chores, the watches, the supervision and the graceful stop of
them all (`graceful`); and the worker's own `/metrics` server (`metrics_server`).
What the streams' reactions call are services (`AsyncMailService`,
`AsyncWebhookEvents`); what the loops carry is pure code below the faces,
importable by both: `mongoshop.mail` (documents, templates, transport),
`mongoshop.webhooks` (events, signing, targets, the HTTP client) and
`mongoshop.streams` (`Change`, the typed change event, and the named filters).
Nothing here imports `mongoshop.api`.
"""
