"""Idempotency keys: the same key and the same request give the same result, once.

A key is scoped to the user who sent it. What the request asked for is kept
as a fingerprint next to the result, so a key reused for a different request
is recognised and refused instead of silently answering the old result.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint(kind: str, payload: Any) -> str:
    """A stable digest of a request (`payload` as JSON-compatible data)."""
    canonical = json.dumps([kind, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
