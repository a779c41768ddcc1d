"""ari-recorder: a call recording controller for Asterisk, written as an ARI Stasis application."""

__version__ = "0.1.0"
