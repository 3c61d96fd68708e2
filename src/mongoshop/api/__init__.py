"""The HTTP API (FastAPI) over the async face: `mongoshop.api.app.create_app`.

Importing this package imports nothing else: a worker deployed alone uses the API's
error answers (`mongoshop.api.errors`) for its `/metrics` server without loading a
single router.
"""
