"""The load benchmark: Locust against `mongoshop serve` on a large shop (see `run.py`)."""
