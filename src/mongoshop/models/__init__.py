"""Pydantic models per aggregate, shared by both faces (no I/O here)."""
