"""The JSON forms of single values that both writers of the timeline share.

Why a module of its own: the document is written two ways, as dicts the C encoder walks
(``timeline``) and as text straight from the model for a flood's many SAs
(``timeline_text``); both need these forms, and neither may import the other (the
import graph has no cycles). Times are RFC 3339 UTC strings with microseconds.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ipsec_inspect.lifecycle.model import AddressUpdate, IkeSa
from ipsec_inspect.sources.timestamps import EARLIEST_TIME, LATEST_TIME, utc_text

if TYPE_CHECKING:
    from ipsec_inspect.audit.findings import Finding


@lru_cache(maxsize=4096)
def rfc3339(t: float | None) -> str | None:
    """``2017-06-27T11:23:45.123456Z`` (UTC, always six fraction digits). Never raises:
    capture times are checked when read, and anything computed from them (an expiry)
    that datetime cannot express is clamped by ``utc_text``.

    Memoised (a pure function of ``t``): an SA's stage spans and events repeat the same
    few times (a one-packet SA's, one), so an export formatted each about 14 times. A
    flood's SAs each have a time of their own, all within a few seconds: the date and
    clock part is memoised by the second, the microseconds rounded as ``datetime`` does."""
    if t is None or not EARLIEST_TIME <= t <= LATEST_TIME or type(t) is not float:
        return utc_text(t)
    fraction, whole = math.modf(t)
    micro = round(fraction * 1e6)  # half to even, as datetime.fromtimestamp rounds
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    return f"{_second(int(whole))}.{micro:06d}Z"


@lru_cache(maxsize=256)
def _second(whole: int) -> str:
    return utc_text(float(whole), "%Y-%m-%dT%H:%M:%S") or ""


def _endpoint(addr: str, port: int) -> dict[str, Any]:
    return {"addr": addr, "port": port}


def _address_update(u: AddressUpdate) -> dict[str, Any]:
    return {
        "frame": u.frame,
        "time": rfc3339(u.time),
        "initiator": _endpoint(u.initiator.addr, u.initiator.port),
        "responder": _endpoint(u.responder.addr, u.responder.port),
        "cause": u.cause.value,
        "certainty": u.certainty.value,
    }


def _chosen_ids(sa: IkeSa) -> dict[str, int]:
    """IANA numbers behind ``chosen``, with the authentication method's number."""
    ids = dict(sa.chosen_ids)
    if sa.auth_method is not None:
        ids["auth_method"] = sa.auth_method
    return ids


def _id_order(ident: str) -> int:
    return int(ident.rsplit("-", 1)[1])


def _finding(f: Finding, child_ids: dict[str, str]) -> dict[str, Any]:
    # A rule that passed (or could not be seen) has no severity of its own: the rule's
    # grade is what a failure would be (issue 15).
    grade = "severity" if f.outcome.value == "fail" else "severity_if_failed"
    return {
        "rule": f.rule,
        "title": f.title,
        "outcome": f.outcome.value,
        grade: f.severity.value,
        "reference": f.reference,
        "sa": child_ids.get(f.sa, f.sa),
        "stage": f.stage.value,
        "detail": f.detail,
        "frames": f.frames,
        "certainty": f.certainty.value,
        "values": f.values,
    }
