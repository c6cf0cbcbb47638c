"""IKE SA rekeys inferred without keys, among many IKE SAs (``lifecycle.ike_rekey_inference``).

Why these: the inference runs for every IKE SA first seen with message ID 0 or 1. It looks
only at the IKE SAs a CREATE_CHILD_SA opened a child SA for (``TrackerState.ccsa_parents``),
not at every IKE SA, so a headend's rekeys cost the same however many tunnels it has; these
check it still picks the same SA a walk of every IKE SA would.
"""

from __future__ import annotations

from ipsec_inspect.core.records import IkeMessage, SaBody
from ipsec_inspect.lifecycle.tracker import Tracker

from .builders import T0, ike2, pl, v2_ike_proposal

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37


def _peer(n: int) -> tuple[str, str]:
    return f"192.0.2.{n}", f"198.51.100.{n}"


def _spi(n: int, side: int) -> bytes:
    return bytes([side]) + n.to_bytes(7, "big")


def _tunnel(
    n: int, frame: int, t: float, *, ccsa: bool, spis: tuple[bytes, bytes] | None = None
) -> list[IkeMessage]:
    """IKE_SA_INIT in clear, IKE_AUTH and (``ccsa``) one CREATE_CHILD_SA, encrypted."""
    ini, res = _peer(n)
    spi_i, spi_r = spis or (_spi(n, 1), _spi(n, 2))
    sa = [pl(33, SaBody([v2_ike_proposal()]), "SA")]

    def msg(k: int, x: int, resp: bool, mid: int, **kw: object) -> IkeMessage:
        return ike2(
            frame + k, x, response=resp, from_initiator=not resp, mid=mid, spi_i=spi_i,
            spi_r=spi_r, src=res if resp else ini, dst=ini if resp else res, t=t + k * 0.01,
            **kw,  # type: ignore[arg-type]
        )  # fmt: skip

    out = [
        msg(0, IKE_SA_INIT, False, 0, payloads=sa),
        msg(1, IKE_SA_INIT, True, 0, payloads=sa),
        msg(2, IKE_AUTH, False, 1),
        msg(3, IKE_AUTH, True, 1),
    ]
    if ccsa:
        out += [msg(4, CREATE_CHILD_SA, False, 2), msg(5, CREATE_CHILD_SA, True, 2)]
    return out


def _successor(n: int, frame: int, t: float, mid: int = 0) -> IkeMessage:
    """The first message of the IKE SA that replaced tunnel ``n``'s (new SPIs, message 0)."""
    ini, res = _peer(n)
    return ike2(
        frame, INFORMATIONAL, response=False, from_initiator=True, mid=mid,
        spi_i=_spi(n, 3), spi_r=_spi(n, 4), src=ini, dst=res, t=t,
    )  # fmt: skip


def _uid(n: int) -> str:
    return f"ike-{_spi(n, 1).hex()}"


def test_the_rekey_of_one_tunnel_among_many_is_linked_to_its_own_sa() -> None:
    tracker = Tracker()
    frame = 1
    for n in range(1, 201):  # 200 tunnels; the odd ones ran a CREATE_CHILD_SA
        for m in _tunnel(n, frame, T0 + n, ccsa=n % 2 == 1):
            tracker.feed(m)
        frame += 10
    st = tracker._st
    assert [uid for d in st.ccsa_parents.values() for uid in d] == [
        _uid(n) for n in range(1, 201, 2)
    ]
    assert list(st.ccsa_parents[_peer(7)]) == [_uid(7)]  # filed by its peers' addresses
    # tunnel 7's IKE SA rekeyed 5 s after its CREATE_CHILD_SA; tunnel 8 had none
    tracker.feed(_successor(7, frame, T0 + 7 + 5))
    tracker.feed(_successor(8, frame + 1, T0 + 8 + 5))
    # another new SA between tunnel 7's peers: its IKE SA was rekeyed already
    third = _successor(7, frame + 2, T0 + 7 + 6, mid=1)
    third.header.spi_i, third.header.spi_r = _spi(7, 5), _spi(7, 6)
    tracker.feed(third)
    tracker.finish()
    res = tracker.result()
    old7, new7 = res.ike_sas[_uid(7)], res.ike_sas[f"ike-{_spi(7, 3).hex()}"]
    assert old7.rekeyed_to == new7.uid and new7.rekeyed_from == old7.uid
    assert new7.state == "ESTABLISHED"
    new8 = res.ike_sas[f"ike-{_spi(8, 3).hex()}"]
    assert new8.rekeyed_from is None and res.ike_sas[_uid(8)].rekeyed_to is None
    rekeyed = [sa.uid for sa in res.ike_sas.values() if sa.rekeyed_to]
    assert rekeyed == [old7.uid]
    # the placeholder child SA of tunnel 7 is withdrawn, the other tunnels keep theirs
    assert not [c for c in res.child_sas.values() if c.ike_sa == old7.uid and not c.directions
                and c.created_by == "CREATE_CHILD_SA"]  # fmt: skip
    assert res.ike_sas[f"ike-{_spi(7, 5).hex()}"].rekeyed_from is None
    # once rekeyed, tunnel 7 can hold no placeholder again: it left the candidates
    assert _peer(7) not in st.ccsa_parents and list(st.ccsa_parents[_peer(9)]) == [_uid(9)]


def test_a_rekey_too_late_after_the_create_child_sa_is_not_inferred() -> None:
    tracker = Tracker()
    for m in _tunnel(3, 1, T0, ccsa=True):
        tracker.feed(m)
    tracker.feed(_successor(3, 20, T0 + 31))  # REKEY_WINDOW is 30 s
    tracker.finish()
    res = tracker.result()
    assert res.ike_sas[_uid(3)].rekeyed_to is None


def test_between_two_sas_of_the_same_peers_the_latest_create_child_sa_wins() -> None:
    """Two IKE SAs between one pair of peers (a reauthentication overlap): the successor is
    that of the one whose CREATE_CHILD_SA came last, though the other was opened first."""
    tracker = Tracker()
    for m in _tunnel(5, 1, T0, ccsa=True):
        tracker.feed(m)
    for m in _tunnel(5, 20, T0 + 2, ccsa=True, spis=(_spi(50, 1), _spi(50, 2))):
        tracker.feed(m)
    tracker.feed(_successor(5, 40, T0 + 6))
    tracker.finish()
    res = tracker.result()
    later = f"ike-{_spi(50, 1).hex()}"
    assert res.ike_sas[later].rekeyed_to == f"ike-{_spi(5, 3).hex()}"
    assert res.ike_sas[_uid(5)].rekeyed_to is None
