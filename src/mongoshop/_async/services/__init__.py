"""Services: the use cases, over repositories; no HTTP, no CLI."""
