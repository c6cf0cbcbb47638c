"""VPN-life tracker logic on hand-built records: endpoints that move, triggers from lifetimes.

The real-peer samples (``test_vpn_life.py``) cover what strongSwan with kernel-libipsec does;
these cover what it cannot: ESP that keeps its SPIs across a MOBIKE move (a kernel that
updates SAs), a NAT rebinding, and IKEv1 lifetimes reached.
"""

from __future__ import annotations

from ipsec_inspect.lifecycle.model import (
    AddressCause,
    Certainty,
    ChildSa,
    Direction,
    IkeSa,
    Reason,
    Stage,
    Termination,
    Trigger,
)
from ipsec_inspect.lifecycle.triggers import assign_triggers

from .builders import B, esp, ike2, notify
from .conftest import track
from .scenarios import C1_I, C1_R, v2_full, v2_init

MOVED = "192.0.2.77"


def _established() -> list:
    """IKE_SA_INIT, IKE_AUTH (child 1) and its first ESP packets (frames 1-9)."""
    return v2_full()[:9]


def test_mobike_update_moves_the_sa_and_its_esp_directions() -> None:
    recs = [
        *_established(),
        ike2(10, 37, response=False, from_initiator=True, mid=2, src=MOVED, port=4500,
             decrypted=[notify(16400)]),  # UPDATE_SA_ADDRESSES
        ike2(11, 37, response=True, from_initiator=False, mid=2, dst=MOVED, port=4500,
             decrypted=[]),
        esp(12, C1_I, 3, src=B, dst=MOVED),  # the responder sends to the new address
        esp(13, C1_R, 4, src=MOVED, dst=B),  # the initiator sends from it
    ]  # fmt: skip
    res = track(recs)
    [sa] = res.ike_sas.values()
    [update] = sa.address_updates
    assert (update.frame, update.cause, update.certainty) == (
        10,
        AddressCause.MOBIKE,
        Certainty.OBSERVED,
    )
    assert sa.initiator is not None and sa.initiator.addr == MOVED
    [child] = res.child_sas.values()  # no orphan: the same SPIs, the same child SA
    by_spi = {d.spi: d for d in child.directions}
    assert by_spi[C1_I].dst == MOVED and by_spi[C1_I].packets == 3
    assert by_spi[C1_R].src == MOVED and by_spi[C1_R].packets == 4
    moved = [e for e in child.stages[Stage.TRANSMISSION].events if e.kind == "child.moved"]
    assert [e.frame for e in moved] == [12, 13]


def test_path_check_moves_nothing_and_encrypted_moves_are_inferred() -> None:
    # decrypted: an empty INFORMATIONAL from the new address is a path check
    check = ike2(10, 37, response=False, from_initiator=True, mid=2, src=MOVED, port=4500,
                 decrypted=[])  # fmt: skip
    checked = track([*_established(), check])
    [sa] = checked.ike_sas.values()
    assert sa.address_updates == [] and sa.initiator is not None and sa.initiator.addr != MOVED
    assert "ike.mobike.path_check" in {e.kind for e in sa.stages[Stage.TRANSMISSION].events}
    # encrypted: the first INFORMATIONAL request from the new address moves the SA (inferred)
    moved = ike2(10, 37, response=False, from_initiator=True, mid=2, src=MOVED, port=4500)
    hidden = track([*v2_full(decrypted=False)[:9], moved])
    [sa] = hidden.ike_sas.values()
    [update] = sa.address_updates
    assert (update.cause, update.certainty) == (AddressCause.MOBIKE, Certainty.INFERRED)


def test_nat_rebinding_is_a_new_port_behind_a_nat() -> None:
    # IKE_SA_INIT with NAT detected, then IKE_AUTH and ESP of the full exchange
    recs = [*v2_init(nat=True), *v2_full()[2:9]]
    rebound = ike2(10, 36, response=False, from_initiator=True, mid=2, port=4500, decrypted=[])
    rebound.meta.sport = 31337  # the initiator's NAT maps it to a new port
    res = track([*recs, rebound])
    [sa] = res.ike_sas.values()
    assert sa.nat_detected
    [update] = sa.address_updates
    assert update.cause == AddressCause.NAT_REBINDING and update.initiator.port == 31337
    assert update.certainty == Certainty.INFERRED


def _child(lifetime_kb: int | None, lifetime_s: int | None, octets: int, age: float) -> ChildSa:
    c = ChildSa(uid="child-1", lifetime_kilobytes=lifetime_kb, lifetime_seconds=lifetime_s)
    c.stages[Stage.CIRCUIT].touch(100.0, 5)
    c.directions.append(Direction(spi=1, src="a", dst="b", packets=10, byte_count=octets))
    c.termination = Termination(Reason.REKEYED, 100.0 + age, 50)
    return c


def test_ikev1_lifetimes_reached_are_the_trigger() -> None:
    volume = _child(lifetime_kb=100, lifetime_s=3600, octets=95 * 1024, age=30.0)
    time = _child(lifetime_kb=None, lifetime_s=60, octets=5000, age=58.0)
    neither = _child(lifetime_kb=100, lifetime_s=3600, octets=1000, age=30.0)
    for c, trigger, certainty in (
        (volume, Trigger.VOLUME, Certainty.OBSERVED),
        (time, Trigger.TIME, Certainty.OBSERVED),
        (neither, Trigger.UNKNOWN, None),
    ):
        assign_triggers({}, {c.uid: c})
        assert c.termination is not None
        assert (c.termination.trigger, c.termination.trigger_certainty) == (trigger, certainty)


def test_a_redirect_is_the_peer_s_doing() -> None:
    sa = IkeSa(uid="ike-1", version=2, spi_i=b"\x01" * 8, redirected_to="192.0.2.3")
    sa.termination = Termination(Reason.DELETED, 10.0, 7)
    assign_triggers({sa.uid: sa}, {})
    assert sa.termination.trigger == Trigger.PEER
    assert sa.termination.trigger_certainty == Certainty.OBSERVED


def test_redirect_in_ike_sa_init_is_not_a_refusal() -> None:
    """RFC 5685 §4.1: the gateway answers IKE_SA_INIT with N(REDIRECT) (in the clear)."""
    gateway = bytes([1, 4]) + bytes([192, 0, 2, 3])  # New Responder GW Identity, IPv4
    answer = ike2(2, 34, response=True, from_initiator=False, mid=0,
                  payloads=[notify(16407, gateway)])  # fmt: skip
    res = track([v2_init()[0], answer])
    [sa] = res.ike_sas.values()
    assert sa.redirected_to == "192.0.2.3"
    t = sa.termination
    assert t is not None and t.reason == Reason.FAILED and t.stage == Stage.NEGOTIATION
    assert t.trigger == Trigger.PEER and "redirected to 192.0.2.3" in (t.detail or "")


def _line(n: int, packets: int, ages: list[float]) -> list[ChildSa]:
    """``n`` child SAs, each rekeyed to the next after ``ages[i]`` s and ``packets`` packets
    (the last one still active)."""
    line = []
    start = 100.0
    for i in range(n):
        c = ChildSa(uid=f"child-{i + 1}")
        d = Direction(spi=0x1000 + i, src="192.0.2.1", dst="198.51.100.2", protocol="esp")
        d.packets = packets
        c.directions.append(d)
        c.stages[Stage.CIRCUIT].touch(start, 10 * i + 1)
        if i < n - 1:
            start += ages[i]
            c.rekeyed_to = f"child-{i + 2}"
            c.termination = Termination(Reason.REKEYED, start + 0.5, 10 * i + 9)
        if i:
            c.rekeyed_from = f"child-{i}"
        line.append(c)
    return line


def test_each_sa_of_a_long_rekey_line_is_told_from_the_whole_line() -> None:
    """A tunnel rekeyed 200 times, every 60 s (+-5%), with packet counts that differ: every
    rekeyed SA gets the line's reading, whichever SA of it is read first."""
    ages = [60.0 * (1 + 0.05 * ((i % 3) - 1)) for i in range(199)]
    line = _line(200, 0, ages)
    for i, c in enumerate(line):
        c.directions[0].packets = 10 + 7 * i
    children = {c.uid: c for c in reversed(line)}  # the newest first: a walk back each time
    assign_triggers({}, children)
    rekeyed = [c for c in line if c.termination is not None]
    assert len(rekeyed) == 199
    for c in rekeyed:
        t = c.termination
        assert t is not None
        assert (t.trigger, t.trigger_certainty) == (Trigger.TIME, Certainty.INFERRED)
        assert t.trigger_detail is not None
        assert t.trigger_detail.startswith(
            "199 rekeys of this SA's line: packets per direction [10, 17,"
        )
    assert line[-1].termination is None


def test_a_loop_of_rekey_links_ends() -> None:
    """Links that go round (a damaged or merged result) are walked once around, as before."""
    line = _line(3, 5, [60.0, 60.0])
    a, _b, c = line
    a.rekeyed_from = c.uid  # child-1 <- child-3 <- child-2 <- child-1
    c.termination = Termination(Reason.REKEYED, 300.0, 40)
    c.rekeyed_to = a.uid
    assign_triggers({}, {x.uid: x for x in line})
    for x in line:
        assert x.termination is not None and x.termination.trigger == Trigger.VOLUME
