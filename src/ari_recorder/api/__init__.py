"""The HTTP API: what people and other systems ask of the running controller."""
