"""Small dataclasses the tracker emits as it is fed records.

Why events besides the model: a live view (or ``export --events``) wants to know *what
changed* the moment it changes, without diffing the whole model. Each event is one fact
with the frame and time that justify it; ``to_json`` gives the JSON-lines form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ipsec_inspect.lifecycle.model import Certainty, Reason, Stage


@dataclass(slots=True, frozen=True)
class SaOpened:
    """A new IKE SA or child SA was seen."""

    sa: str
    kind: str  # "ike" or "child"
    time: float
    frame: int
    observed_from_start: bool = True


@dataclass(slots=True, frozen=True)
class StageEntered:
    """An SA reached a stage for the first time."""

    sa: str
    stage: Stage
    time: float
    frame: int


@dataclass(slots=True, frozen=True)
class Happened:
    """Something notable on an SA (also recorded as a stage event in the model)."""

    sa: str
    stage: Stage
    time: float
    frame: int
    kind: str
    text: str
    certainty: Certainty = Certainty.OBSERVED


@dataclass(slots=True, frozen=True)
class SaClosed:
    """An SA ended (or was settled as still active at the end of the capture)."""

    sa: str
    reason: Reason
    time: float | None
    frame: int | None
    notify: str | None = None


TrackerEvent = SaOpened | StageEntered | Happened | SaClosed


def event_to_json(event: TrackerEvent) -> dict[str, Any]:
    """One JSON object per event, with an ``event`` discriminator."""
    out: dict[str, Any] = {"event": type(event).__name__}
    for name in event.__slots__:
        value = getattr(event, name)
        if isinstance(value, Stage | Reason | Certainty):
            value = value.value
        out[name] = value
    return out
