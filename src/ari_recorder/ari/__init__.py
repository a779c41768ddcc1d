"""A typed client for the Asterisk REST Interface: REST calls, the event stream, and their models."""
