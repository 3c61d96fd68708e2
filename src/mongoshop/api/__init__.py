"""The HTTP API (FastAPI) over the async face: `mongoshop.api.app.create_app`.

Importing this package imports nothing else, and nothing outside `mongoshop.api` and
`mongoshop.cli` imports it: a worker deployed alone answers its `/metrics` errors
with `mongoshop.http.errors`, without loading a single router.
"""
