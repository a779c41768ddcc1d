"""What the delivery queue's endpoints (api/deliveries.py) take and answer, as msgspec Structs
(api/bodies.py holds the rest; the OpenAPI document is generated from both)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ari_recorder.api.bodies import Moment
from ari_recorder.storage.deliveries import Kind
from ari_recorder.storage.deliveries import State as DeliveryState

DeliveryId = Annotated[
    str, msgspec.Meta(min_length=1, max_length=300, description="<recording>/audio, /metadata, /transcript")
]


class DeliveryItem(msgspec.Struct, frozen=True):
    """A row of the delivery queue: one file on its way to the recording platform."""

    id: str
    recording: str
    interaction: Annotated[str | None, msgspec.Meta(description="null: the recording's row was purged")]
    kind: Kind
    state: DeliveryState
    attempts: int
    last_error: Annotated[str | None, msgspec.Meta(description="the last failed attempt's error")]
    next_attempt_at: Moment
    created_at: Moment
    delivered_at: Moment | None


class DeliveryPage(msgspec.Struct, frozen=True):
    """Rows newest first; `more`: another page follows (offset + limit)."""

    items: list[DeliveryItem]
    offset: int
    limit: int
    more: bool


class RetryDelivery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A dead delivery to put back in the queue."""

    id: DeliveryId


class Retried(msgspec.Struct, frozen=True):
    """A dead delivery back in the queue, due now, its attempts from 0."""

    id: str
    recording: str
    state: Literal["fetching", "pending"]
    attempts: Annotated[int, msgspec.Meta(description="the attempts it had used")]
    previous_error: str | None
