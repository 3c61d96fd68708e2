"""End-to-end tests: real HTTP against ``mongoshop serve`` running as a subprocess."""
