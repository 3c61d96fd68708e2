"""THE source of repositories and services, written against PyMongo's async API.

`mongoshop._sync` is generated from this package by ``tools/gen_sync.py``;
edit here, then regenerate. Never edit `_sync` by hand.
"""
