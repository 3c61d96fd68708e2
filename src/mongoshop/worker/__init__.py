"""The background loops that run beside the API or on their own (`mongoshop worker`)."""
