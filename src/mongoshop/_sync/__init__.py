"""The sync face: repositories and services on PyMongo's `MongoClient`.

Generated from `mongoshop._async` by ``tools/gen_sync.py`` (but this file and
`compat.py`, written by hand): edit `_async`, then regenerate. Never edit the
generated files here.
"""
