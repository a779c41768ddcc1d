"""Why a delivery failed, in two kinds: worth trying again later, or not without someone's help.

Messages are stored in `deliveries.last_error` and logged: they name hosts, users, key and file
paths, never a key's contents.
"""

from __future__ import annotations

from ari_recorder import errors


class DeliveryError(errors.AppError):
    """A step of the pipeline failed; the message says what, for the row and the log."""

    id = "delivery-failed"


class Retryable(DeliveryError, errors.Unavailable):
    """Transient (a network outage, a server restarting, Asterisk unreachable): back off, try again."""

    id = "delivery-retryable"


class Permanent(DeliveryError):
    """Trying again cannot help until someone acts (a wrong host key, an empty recording): dead now."""

    id = "delivery-permanent"


class NotConfigured(DeliveryError):
    """Delivery cannot start with these settings (no recipients to encrypt to)."""

    id = "delivery-not-configured"
