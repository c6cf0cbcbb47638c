"""The tracker on hand-made IKEv1 exchanges: Main, Aggressive and Quick Mode."""

from __future__ import annotations

import io

from ipsec_inspect.export.psk_crack import psk_crack_lines, write_psk_crack
from ipsec_inspect.lifecycle.model import Certainty, Reason, Stage

from .builders import SPI_I, ZERO, A, B, ike1, notify, pl
from .conftest import track
from .scenarios import QM_I, QM_R, v1_aggressive_psk, v1_main


def test_main_mode_quick_mode_with_keys():
    res = track(v1_main())
    (sa,) = res.ike_sas.values()
    assert (sa.version, sa.mode, sa.state) == (1, "main", "CLOSED")
    assert sa.chosen == {
        "encryption": "AES-CBC-256",
        "prf": "SHA2-256",
        "integrity": "SHA2-256",
        "dh_group": "2048-bit MODP group",
    }
    assert sa.chosen_ids["encryption"] == 12 and sa.chosen_ids["prf"] == 5 and sa.auth_method == 1
    assert sa.lifetime_seconds == 28800
    assert (sa.stages[Stage.NEGOTIATION].start_frame, sa.stages[Stage.NEGOTIATION].end_frame) == (
        1,
        4,
    )
    assert (sa.stages[Stage.CIRCUIT].start_frame, sa.stages[Stage.CIRCUIT].end_frame) == (5, 6)
    assert sa.identities == {"initiator": "192.0.2.1", "responder": "198.51.100.2"}
    assert sa.termination.reason == Reason.DELETED and sa.termination.frame == 13
    (child,) = res.child_sas.values()
    assert child.created_by == "QUICK_MODE" and child.ike_sa == sa.uid
    assert (child.stages[Stage.CIRCUIT].start_frame, child.stages[Stage.CIRCUIT].end_frame) == (
        7,
        9,
    )
    assert [(d.spi, d.src, d.packets) for d in child.directions] == [(QM_R, A, 2), (QM_I, B, 1)]
    assert (
        child.chosen["encryption"] == "ESP_AES-CBC-256"
        and child.chosen["integrity"] == "HMAC-SHA2-256"
    )
    assert child.mode == "tunnel" and child.lifetime_seconds == 3600 and child.pfs is False
    assert child.traffic_selectors == {"initiator": ["10.1.0.0/24"], "responder": ["10.2.0.0/24"]}
    assert child.termination.reason == Reason.DELETED and child.termination.frame == 13


def test_quick_mode_with_ke_has_pfs():
    (child,) = track(v1_main(pfs=True)).child_sas.values()
    assert child.pfs is True and child.chosen["dh_group"] == "2048-bit MODP group"


def test_main_mode_without_keys():
    res = track(v1_main(decrypted=False))
    (sa,) = res.ike_sas.values()
    assert sa.state == "ESTABLISHED" and sa.stages[Stage.CIRCUIT].end_frame == 6
    (child,) = res.child_sas.values()
    assert (
        child.certainty["chosen"] == Certainty.ENCRYPTED
        and child.certainty["pairing"] == Certainty.INFERRED
    )
    assert sorted(d.spi for d in child.directions) == sorted([QM_I, QM_R])


def test_aggressive_mode_psk_gives_psk_crack_parameters():
    res = track(v1_aggressive_psk())
    (sa,) = res.ike_sas.values()
    assert sa.mode == "aggressive" and sa.state == "AM_REPLIED" and sa.auth_method == 1
    assert sa.identities == {"initiator": "alice", "responder": "gw.example"}
    (line,) = psk_crack_lines(res)
    fields = line.split(":")
    assert len(fields) == 9
    assert fields[0] == ("R" * 128).encode().hex() and fields[1] == ("G" * 128).encode().hex()
    assert fields[2] == "3333333333333333" and fields[3] == SPI_I.hex()
    assert bytes.fromhex(fields[4]) == b"\x00\x00\x00\x01SA-I"
    assert bytes.fromhex(fields[5]) == b"\x02\x00\x00\x00gw.example"
    # what psk-crack does: recompute HASH_R from the fields for a candidate key
    import hmac

    def crack(candidate: bytes) -> bool:
        f = [bytes.fromhex(x) for x in fields]
        skeyid = hmac.new(candidate, f[6] + f[7], "sha1").digest()
        return hmac.new(skeyid, f[0] + f[1] + f[2] + f[3] + f[4] + f[5], "sha1").digest() == f[8]

    assert crack(b"correct horse") and not crack(b"wrong guess")
    fh = io.StringIO()
    assert write_psk_crack(res, fh) == 1 and fh.getvalue() == line + "\n"


def test_main_mode_rejected_with_cleartext_notify():
    recs = v1_main()[:1]
    recs.append(ike1(2, 5, from_initiator=False, spi_r=ZERO, payloads=[notify(14)]))
    (sa,) = track(recs).ike_sas.values()
    t = sa.termination
    assert (t.reason, t.stage, t.notify, t.frame) == (
        Reason.FAILED,
        Stage.NEGOTIATION,
        "NO-PROPOSAL-CHOSEN",
        2,
    )


def test_main_mode_authentication_failed_in_circuit():
    recs = v1_main()[:5]
    recs.append(ike1(6, 5, from_initiator=False, encrypted=True, mid=7, decrypted=[notify(24)]))
    (sa,) = track(recs).ike_sas.values()
    t = sa.termination
    assert (t.reason, t.stage, t.notify) == (Reason.FAILED, Stage.CIRCUIT, "AUTHENTICATION-FAILED")


def test_quick_mode_lifetime_expiry():
    recs = v1_main()[:-1]  # no Delete
    res = track(recs, end=recs[-1].meta.time + 4000)
    (child,) = res.child_sas.values()
    assert child.termination.reason == Reason.LIFETIME_EXPIRED
    assert child.termination.time == child.stages[Stage.CIRCUIT].end + 3600


def test_status_informational_during_main_mode_keeps_the_state():
    recs = v1_main()[:1]
    recs.append(ike1(2, 5, from_initiator=False, payloads=[pl(11, None, "N")]))
    res = track(recs)
    (sa,) = res.ike_sas.values()
    assert sa.state == "INIT_SENT" and not res.errors
