"""The SA model: what the tracker knows about each IKE SA and child SA.

Why plain dataclasses: the model is the tracker's whole state, so it must be easy to send
between processes (the tunnel partitions of ``pipeline.dask_engine``), easy to build in tests and easy
to turn into JSON. Nothing here does I/O or looks at packets; the tracker fills it in.

Stages follow ``../shared/design/lifecycle.md``: every SA has the same five stages, each a
span of frames with the events that fell in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ipsec_inspect.lifecycle.ivs import IvHistory
from ipsec_inspect.lifecycle.sequence import SequenceAnalyzer


class Stage(StrEnum):
    """The five stages of an SA, in the order they normally happen."""

    HOST_RECOGNITION = "host_recognition"
    NEGOTIATION = "negotiation"
    CIRCUIT = "circuit"
    TRANSMISSION = "transmission"
    TERMINATION = "termination"


class Certainty(StrEnum):
    """How a detail is known: read from the wire, guessed, or hidden by encryption."""

    OBSERVED = "observed"
    INFERRED = "inferred"
    ENCRYPTED = "encrypted"


class Reason(StrEnum):
    """Why an SA ended (``Termination.reason``)."""

    DELETED = "deleted"
    REKEYED = "rekeyed"
    # replaced by a new IKE SA from a new IKE_SA_INIT (RFC 7296 2.8.3), not by a rekey
    REAUTHENTICATED = "reauthenticated"
    LIFETIME_EXPIRED = "lifetime_expired"
    FAILED = "failed"
    STILL_ACTIVE = "still_active"
    IDLE = "idle"


class Trigger(StrEnum):
    """Why an SA was rekeyed, reauthenticated or ended (``Termination.trigger``).

    ``time``: a lifetime in seconds ran out (IKEv1 lifetime attribute, regular ages, or the
    daemon's log); ``volume``: a packet or byte limit was reached (IKEv1 kilobytes, regular
    packet counts, or the log); ``peer``: the other peer asked for it (IKEv2 REDIRECT,
    AUTH_LIFETIME); ``user``: an operator command (the daemon's log names it); ``unknown``.
    """

    TIME = "time"
    VOLUME = "volume"
    PEER = "peer"
    USER = "user"
    UNKNOWN = "unknown"


class AddressCause(StrEnum):
    """Why an IKE SA's endpoints changed (``IkeSa.address_updates``)."""

    MOBIKE = "mobike"  # RFC 4555 UPDATE_SA_ADDRESSES
    NAT_REBINDING = "nat-rebinding"  # the NAT mapping changed (RFC 7296 2.23, NAT detected)
    UNKNOWN = "unknown"


#: Reasons a later part of the capture can revise (they depend on where the capture ends).
SOFT_REASONS = frozenset({Reason.STILL_ACTIVE, Reason.IDLE, Reason.LIFETIME_EXPIRED})


@dataclass(slots=True)
class Event:
    """One thing that happened to an SA, attached to the stage it happened in."""

    time: float
    frame: int
    kind: str  # dotted, stable: "ike.init.request", "esp.seq.replay", ...
    text: str  # one sentence a person reads
    certainty: Certainty = Certainty.OBSERVED


@dataclass(slots=True)
class StageSpan:
    """The frames that belong to one stage, and its events.

    A span only grows: ``touch`` widens it to include a frame. Events may name frames
    outside the span (a NAT detection learnt from a later message is an event of host
    recognition), so that each packet still belongs to exactly one stage's span.
    """

    start: float | None = None
    end: float | None = None
    start_frame: int | None = None
    end_frame: int | None = None
    events: list[Event] = field(default_factory=list)

    def touch(self, time: float, frame: int) -> None:
        if self.start is None or (time, frame) < (self.start, self.start_frame or 0):
            self.start, self.start_frame = time, frame
        if self.end is None or (time, frame) > (self.end, self.end_frame or 0):
            self.end, self.end_frame = time, frame

    @property
    def seen(self) -> bool:
        return self.start is not None

    def absorb(self, other: StageSpan) -> None:
        """Widen this span by ``other`` and take its events (merge of two halves)."""
        if other.start is not None and other.start_frame is not None:
            self.touch(other.start, other.start_frame)
        if other.end is not None and other.end_frame is not None:
            self.touch(other.end, other.end_frame)
        self.events.extend(other.events)
        self.events.sort(key=lambda e: (e.time, e.frame))


_HR, _NEG, _CIRCUIT, _TRANS, _TERM = Stage


def new_stages() -> dict[Stage, StageSpan]:
    """Five empty spans, in stage order. Written out because every SA makes one (a flood
    makes a million): iterating the enum cost more than the spans."""
    return {
        _HR: StageSpan(),
        _NEG: StageSpan(),
        _CIRCUIT: StageSpan(),
        _TRANS: StageSpan(),
        _TERM: StageSpan(),
    }


@dataclass(slots=True)
class Termination:
    """How and when an SA ended, and how certain that is."""

    reason: Reason
    time: float | None = None
    frame: int | None = None
    notify: str | None = None  # the notify that ended it (NO_PROPOSAL_CHOSEN, ...)
    stage: Stage | None = None  # where a failure happened
    certainty: Certainty = Certainty.OBSERVED
    detail: str | None = None  # what a person reads when there is no notify ("no response")
    trigger: Trigger | None = None  # why it was rekeyed or ended, where that can be told
    trigger_certainty: Certainty | None = None
    trigger_detail: str | None = None  # the evidence behind ``trigger``, for people


@dataclass(slots=True)
class Endpoint:
    """An SA endpoint: address and port."""

    addr: str
    port: int = 0


@dataclass(slots=True)
class AddressUpdate:
    """An IKE SA's endpoints changed at ``frame``: the new initiator and responder."""

    frame: int
    time: float
    initiator: Endpoint
    responder: Endpoint
    cause: AddressCause
    certainty: Certainty = Certainty.OBSERVED


@dataclass(slots=True)
class Direction:
    """One direction (one SPI) of a child SA, with its traffic statistics."""

    spi: int
    src: str
    dst: str
    protocol: str = "esp"  # "esp" or "ah"
    packets: int = 0
    byte_count: int = 0  # outer IP bytes on the wire ("bytes" in the JSON)
    # bytes of the decrypted inner packets (what ``swanctl --list-sas`` counts)
    inner_bytes: int = 0
    decrypted: int = 0  # payload decrypted (or AH ICV verified); see integrity_checked
    icv_failures: int = 0
    # Whether the keys check integrity: False when they have no integrity key (a non-AEAD
    # cipher with integrity NONE or "ANY n bit"), so ``decrypted`` packets are unverified;
    # None until a packet was decrypted. One key per direction, so it holds for all.
    integrity_checked: bool | None = None
    first_time: float | None = None
    last_time: float | None = None
    first_frame: int | None = None
    last_frame: int | None = None
    seq: SequenceAnalyzer = field(default_factory=SequenceAnalyzer)
    # explicit IVs seen (counter-mode/AEAD reuse check): iv -> first frame
    ivs: IvHistory = field(default_factory=IvHistory)
    iv_reuse_frames: list[int] = field(default_factory=list)
    # MTU/MSS measurement (from decrypted packets)
    max_overhead: int | None = None
    max_inner: int | None = None
    inner_ip_version: int | None = None
    fragmented: int = 0
    fragmented_frames: list[int] = field(default_factory=list)
    key_source: str = ""

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.dst, self.spi, self.protocol)

    @property
    def decrypted_verified(self) -> int:
        """Packets decrypted whose ICV or AEAD tag verified ("decrypted" in the JSON)."""
        return 0 if self.integrity_checked is False else self.decrypted

    @property
    def decrypted_unverified(self) -> int:
        """Packets decrypted with keys that check no integrity: a tampered packet passes."""
        return self.decrypted if self.integrity_checked is False else 0

    @property
    def iv_count(self) -> int:
        """How many explicit IVs were checked for reuse."""
        return self.ivs.count


@dataclass(slots=True)
class ChildSa:
    """A child SA (IKEv2) or IPsec SA (IKEv1 phase 2): up to two directions."""

    uid: str
    ike_sa: str | None = None  # uid of the parent IKE SA
    protocol: str = "esp"
    mode: str | None = None  # "tunnel" / "transport"
    encapsulation: str = "none"  # "none", "udp" (RFC 3948), "tcp" (RFC 8229)
    chosen: dict[str, Any] = field(default_factory=dict)  # encryption, integrity, esn, dh_group
    chosen_ids: dict[str, int] = field(default_factory=dict)  # IANA numbers behind ``chosen``
    proposals_offered: list[dict[str, Any]] = field(default_factory=list)
    traffic_selectors: dict[str, list[str]] = field(default_factory=dict)  # "local"/"remote"
    directions: list[Direction] = field(default_factory=list)
    stages: dict[Stage, StageSpan] = field(default_factory=new_stages)
    termination: Termination | None = None
    rekeyed_from: str | None = None
    rekeyed_to: str | None = None
    keys_source: str | None = None
    observed_from_start: bool = True
    created_by: str | None = None  # "IKE_AUTH", "CREATE_CHILD_SA", "QUICK_MODE", None (ESP only)
    pfs: bool | None = None  # KE in the creating exchange; None = not observable
    lifetime_seconds: int | None = None
    lifetime_kilobytes: int | None = None
    certainty: dict[str, Certainty] = field(default_factory=dict)  # detail name -> certainty
    hard_end: Termination | None = None  # a termination seen on the wire (delete, failure)
    creating_exchange: tuple[int, bool] | None = None  # (message id, by original initiator)
    initiator_addr: str | None = None  # who sent the creating request
    answered: bool = False  # the creating exchange's response was seen
    # the parent's last INFORMATIONAL request (time, frame) when this child's creating request
    # was seen: a Delete just before a CREATE_CHILD_SA is a re-creation, not a rekey
    info_before: tuple[float, int] | None = None

    def direction(self, dst: str, spi: int) -> Direction | None:
        for d in self.directions:
            if d.dst == dst and d.spi == spi:
                return d
        return None

    @property
    def last_activity(self) -> tuple[float, int] | None:
        times = [(d.last_time, d.last_frame or 0) for d in self.directions if d.last_time]
        return max(times) if times else None


@dataclass(slots=True)
class IkeSa:
    """An IKE SA (IKEv2) or ISAKMP SA (IKEv1 phase 1)."""

    uid: str
    version: int
    spi_i: bytes
    spi_r: bytes = b"\x00" * 8
    initiator: Endpoint | None = None
    responder: Endpoint | None = None
    mode: str | None = None  # IKEv1 "main" / "aggressive"; IKEv2 None
    state: str = "START"
    proposals_offered: list[dict[str, Any]] = field(default_factory=list)
    chosen: dict[str, Any] = field(default_factory=dict)  # encryption, prf, integrity, dh_group
    chosen_ids: dict[str, int] = field(default_factory=dict)
    offered_ids: list[dict[str, list[int]]] = field(default_factory=list)
    auth_method: int | None = None  # the number (IKEv2 AUTH method, IKEv1 attribute 3)
    auth_name: str | None = None  # "psk", "pubkey", "eap-md5", "xauth-psk", "psk+eap-md5", ...
    eap_types: list[int] = field(default_factory=list)  # EAP methods seen, request order
    auth_rounds: list[str] = field(default_factory=list)  # the initiator's, RFC 4739 rounds
    stages: dict[Stage, StageSpan] = field(default_factory=new_stages)
    termination: Termination | None = None
    hard_end: Termination | None = None
    rekeyed_from: str | None = None
    rekeyed_to: str | None = None
    rekey_certainty: Certainty | None = None  # how the rekeyed_from/to links are known
    reauthenticated: bool = False  # replaced by a reauthentication (rekeyed_to names the new SA)
    established_time: float | None = None  # IKE_AUTH / phase 1 completed (swanctl ESTABLISHED)
    established_frame: int | None = None
    address_updates: list[AddressUpdate] = field(default_factory=list)
    redirected_to: str | None = None  # the gateway an IKEv2 REDIRECT named (RFC 5685)
    redirected_from: str | None = None  # REDIRECTED_FROM in this SA's IKE_SA_INIT
    virtual_ips: list[str] = field(default_factory=list)  # CFG_REPLY / Mode Config addresses
    # named configuration attributes (dns, nbns, subnets, application_version, ...)
    configuration: dict[str, list[str]] = field(default_factory=dict)
    # secrets seen in decrypted messages (the XAUTH password): exported only with keys
    secrets: dict[str, str] = field(default_factory=dict)
    child_sas: list[str] = field(default_factory=list)
    transport: str = "udp"
    nat_detected: bool | None = None
    nat_certainty: Certainty = Certainty.OBSERVED
    nat_frames: list[int] = field(default_factory=list)
    vendor_ids: list[str] = field(default_factory=list)
    identities: dict[str, str] = field(default_factory=dict)
    lifetime_seconds: int | None = None
    lifetime_kilobytes: int | None = None
    observed_from_start: bool = True
    messages: int = 0
    last_time: float | None = None
    last_frame: int | None = None
    last_exchange: str | None = None
    last_info_time: float | None = None  # the last INFORMATIONAL request (inferred deletes)
    last_info_frame: int | None = None
    certainty: dict[str, Certainty] = field(default_factory=dict)
    # Deletes naming SPIs this part of the capture never saw: (protocol, spi, sender, time, frame)
    unresolved_deletes: list[tuple[str, int, str, float, int]] = field(default_factory=list)
    psk_crack: tuple[bytes, ...] | None = None  # IKEv1 aggressive PSK: psk-crack inputs
    aggressive_psk_frames: list[int] = field(default_factory=list)


def child_state(c: ChildSa) -> str:
    """strongSwan's CHILD_SA state name for how ``c`` stands at the end of the capture."""
    t = c.termination
    if t is None or t.reason in (Reason.STILL_ACTIVE, Reason.IDLE):
        return "INSTALLED"
    return {
        Reason.REKEYED: "REKEYED",
        Reason.REAUTHENTICATED: "DELETED",
        Reason.DELETED: "DELETED",
        Reason.FAILED: "FAILED",
        Reason.LIFETIME_EXPIRED: "EXPIRED",
    }.get(t.reason, "INSTALLED")


def ike_state(sa: IkeSa) -> str:
    """The IKE SA's state for people: the tracker's, except that a rekeyed SA is REKEYED."""
    t = sa.termination
    if t is not None and t.reason == Reason.REKEYED:
        return "REKEYED"
    if (
        t is not None
        and t.reason in (Reason.DELETED, Reason.REAUTHENTICATED)
        and sa.state == "ESTABLISHED"
    ):
        return "CLOSED"  # its Delete was encrypted: the end is inferred
    return sa.state
