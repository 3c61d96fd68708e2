"""HTTP plumbing shared by the API and the worker's `/metrics` server: error answers in
one JSON shape (`errors`), the hardening headers (`headers`), and Uvicorn's protocol
with deadlines for slow clients (`protocol`). It imports nothing of the API."""
