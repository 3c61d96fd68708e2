"""What a change event says, as pure code both faces may import (`changes.event_time`).

The loops that read the streams are the worker's (`mongoshop.worker.streams`).
"""
