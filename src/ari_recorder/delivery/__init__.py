"""After the call: fetch each finished recording, encrypt it with its metadata, deliver it by SFTP.

The path a recording takes: `fetch` (Asterisk -> spool, via `audio` and `crypto`), the queue (one
row per file in the database: storage/deliveries.py), `targets` (SFTP, or a local outbox), driven
by `service.Delivery`.
"""

from ari_recorder.delivery.crypto import generate_keypair
from ari_recorder.delivery.errors import DeliveryError, NotConfigured, Permanent, Retryable
from ari_recorder.delivery.service import Counters, Delivery, Outcome
from ari_recorder.delivery.settings import DeliverySettings

__all__ = [
    "Counters",
    "Delivery",
    "DeliveryError",
    "DeliverySettings",
    "NotConfigured",
    "Outcome",
    "Permanent",
    "Retryable",
    "generate_keypair",
]
