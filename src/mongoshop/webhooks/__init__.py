"""Outbound webhooks: events from committed changes, signed, delivered with retries.

`events` turns change-stream events into webhook events (pure), `signing` signs
and verifies them, `targets` keeps deliveries away from internal addresses,
`client` makes one bounded HTTP attempt, and `deliverer` drains the delivery
collection with leases, back-off and per-object order.
"""
