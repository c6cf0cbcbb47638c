"""Complete hand-made exchanges reused by several tests (IKEv2 and IKEv1)."""

from __future__ import annotations

import hashlib
import ipaddress

from ipsec_inspect.core.records import Record

from .builders import (
    SPI_I,
    ZERO,
    A,
    AuthBody,
    B,
    DeleteBody,
    HashBody,
    IdBody,
    KeBody,
    NonceBody,
    SaBody,
    esp,
    ike1,
    ike2,
    notify,
    ok,
    pl,
    ts_pair,
    v1_p1_transform,
    v1_p2_proposal,
    v2_child_proposal,
    v2_ike_proposal,
)

C1_I, C1_R = 0xC0000001, 0xD0000001  # first child SA: initiator's / responder's inbound SPI
C2_I, C2_R = 0xC0000002, 0xD0000002  # its rekeyed successor


def natd(src: str, port: int, spi_i: bytes = SPI_I, spi_r: bytes = ZERO) -> bytes:
    return hashlib.sha1(
        spi_i + spi_r + ipaddress.ip_address(src).packed + port.to_bytes(2, "big")
    ).digest()


def v2_init(*, nat: bool = False) -> list[Record]:
    src_hash = natd("203.0.113.9" if nat else A, 500)
    req = ike2(
        1,
        34,
        response=False,
        from_initiator=True,
        mid=0,
        payloads=[
            pl(
                33,
                SaBody(
                    [v2_ike_proposal(), v2_ike_proposal(encr=3, bits=None, prf=2, integ=2, dh=2)]
                ),
                "SA",
            ),
            pl(34, KeBody(19, b"k" * 64), "KE"),
            pl(40, NonceBody(b"n" * 32), "Ni"),
            notify(16388, src_hash),
            notify(16389, natd(B, 500)),
        ],
    )
    resp = ike2(
        2,
        34,
        response=True,
        from_initiator=False,
        mid=0,
        payloads=[
            pl(33, SaBody([v2_ike_proposal()]), "SA"),
            pl(34, KeBody(19, b"K" * 64), "KE"),
            pl(40, NonceBody(b"N" * 32), "Nr"),
        ],
    )
    return [req, resp]


def v2_full(decrypted: bool = True) -> list[Record]:
    """INIT, AUTH (child 1), ESP, CREATE_CHILD_SA rekey with PFS, ESP, Delete child 1, Delete IKE."""

    def d(payloads: list) -> list | None:
        return payloads if decrypted else None

    recs = v2_init()
    recs.append(
        ike2(
            3,
            35,
            response=False,
            from_initiator=True,
            mid=1,
            decrypted=d(
                [
                    pl(35, IdBody(2, b"", "alice.example"), "IDi"),
                    pl(39, AuthBody(2, b"a" * 32), "AUTH"),
                    pl(33, SaBody([v2_child_proposal(C1_I)]), "SA"),
                    *ts_pair(),
                ]
            ),
        )
    )
    recs.append(
        ike2(
            4,
            35,
            response=True,
            from_initiator=False,
            mid=1,
            decrypted=d(
                [
                    pl(36, IdBody(2, b"", "gw.example"), "IDr"),
                    pl(39, AuthBody(2, b"b" * 32), "AUTH"),
                    pl(33, SaBody([v2_child_proposal(C1_R)]), "SA"),
                    *ts_pair(),
                ]
            ),
        )
    )
    recs += [
        esp(5, C1_R, 1),
        esp(6, C1_R, 2),
        esp(7, C1_R, 3),
        esp(8, C1_I, 1, src=B, dst=A),
        esp(9, C1_I, 2, src=B, dst=A),
    ]
    recs.append(
        ike2(
            10,
            36,
            response=False,
            from_initiator=True,
            mid=2,
            decrypted=d(
                [
                    notify(16393, spi=C1_I.to_bytes(4, "big"), protocol=3),
                    pl(33, SaBody([v2_child_proposal(C2_I, dh=19)]), "SA"),
                    pl(40, NonceBody(b"x" * 32), "Ni"),
                    pl(34, KeBody(19, b"e" * 64), "KE"),
                    *ts_pair(),
                ]
            ),
        )
    )
    recs.append(
        ike2(
            11,
            36,
            response=True,
            from_initiator=False,
            mid=2,
            decrypted=d(
                [
                    pl(33, SaBody([v2_child_proposal(C2_R, dh=19)]), "SA"),
                    pl(40, NonceBody(b"y" * 32), "Nr"),
                    pl(34, KeBody(19, b"f" * 64), "KE"),
                    *ts_pair(),
                ]
            ),
        )
    )
    recs += [esp(12, C2_R, 1), esp(13, C2_I, 1, src=B, dst=A)]
    recs.append(
        ike2(
            14,
            37,
            response=False,
            from_initiator=True,
            mid=3,
            decrypted=d([pl(42, DeleteBody(3, [C1_I.to_bytes(4, "big")]), "D")]),
        )
    )
    recs.append(
        ike2(
            15,
            37,
            response=True,
            from_initiator=False,
            mid=3,
            decrypted=d([pl(42, DeleteBody(3, [C1_R.to_bytes(4, "big")]), "D")]),
        )
    )
    recs.append(
        ike2(
            16,
            37,
            response=False,
            from_initiator=True,
            mid=4,
            decrypted=d([pl(42, DeleteBody(1, []), "D")]),
        )
    )
    recs.append(ike2(17, 37, response=True, from_initiator=False, mid=4, decrypted=d([])))
    return recs


def v2_no_proposal() -> list[Record]:
    req = v2_init()[0]
    resp = ike2(
        2, 34, response=True, from_initiator=False, mid=0, spi_r=ZERO, payloads=[notify(14)]
    )
    return [req, resp]


def v2_auth_failed() -> list[Record]:
    recs = v2_init()
    recs.append(
        ike2(
            3,
            35,
            response=False,
            from_initiator=True,
            mid=1,
            decrypted=[
                pl(35, IdBody(2, b"", "alice.example"), "IDi"),
                pl(39, AuthBody(2, b"a" * 32), "AUTH"),
                pl(33, SaBody([v2_child_proposal(C1_I)]), "SA"),
                *ts_pair(),
            ],
        )
    )
    recs.append(ike2(4, 35, response=True, from_initiator=False, mid=1, decrypted=[notify(24)]))
    return recs


def v2_auth_failed_encrypted(response_length: int) -> list[Record]:
    """The same failure without keys: only the size of the IKE_AUTH response tells."""
    recs = v2_init()
    recs.append(ike2(3, 35, response=False, from_initiator=True, mid=1, length=320))
    recs.append(ike2(4, 35, response=True, from_initiator=False, mid=1, length=response_length))
    return recs


# ---------------------------------------------------------------- IKEv1

QM_I, QM_R = 0xA0000001, 0xB0000001


def v1_main(decrypted: bool = True, *, pfs: bool = False) -> list[Record]:
    """Main Mode 1-6, Quick Mode 1-3, ESP both ways, then a Delete of the ISAKMP SA."""

    def d(payloads: list) -> list | None:
        return payloads if decrypted else None

    t = v1_p1_transform()
    recs: list[Record] = [
        ike1(
            1,
            2,
            from_initiator=True,
            spi_r=ZERO,
            payloads=[pl(1, SaBody([_p1(t)], doi=1, situation=1), "SA")],
        ),
        ike1(
            2, 2, from_initiator=False, payloads=[pl(1, SaBody([_p1(t)], doi=1, situation=1), "SA")]
        ),
        ike1(
            3,
            2,
            from_initiator=True,
            payloads=[pl(4, KeBody(None, b"k" * 256), "KE"), pl(10, NonceBody(b"n" * 16), "NONCE")],
        ),
        ike1(
            4,
            2,
            from_initiator=False,
            payloads=[pl(4, KeBody(None, b"K" * 256), "KE"), pl(10, NonceBody(b"N" * 16), "NONCE")],
        ),
        ike1(
            5,
            2,
            from_initiator=True,
            encrypted=True,
            decrypted=d(
                [
                    pl(5, IdBody(1, b"", "192.0.2.1"), "ID"),
                    pl(8, HashBody("hash", b"h" * 32), "HASH"),
                ]
            ),
        ),
        ike1(
            6,
            2,
            from_initiator=False,
            encrypted=True,
            decrypted=d(
                [
                    pl(5, IdBody(1, b"", "198.51.100.2"), "ID"),
                    pl(8, HashBody("hash", b"H" * 32), "HASH"),
                ]
            ),
        ),
    ]
    ke = [pl(4, KeBody(None, b"q" * 256), "KE")] if pfs else []
    ids = [pl(5, IdBody(4, b"", "10.1.0.0/24"), "ID"), pl(5, IdBody(4, b"", "10.2.0.0/24"), "ID")]
    recs.append(
        ike1(
            7,
            32,
            from_initiator=True,
            encrypted=True,
            mid=0x1234,
            decrypted=d(
                [
                    pl(8, HashBody("hash", b"1" * 32), "HASH"),
                    pl(
                        1,
                        SaBody(
                            [v1_p2_proposal(QM_I, group=14 if pfs else None)], doi=1, situation=1
                        ),
                        "SA",
                    ),
                    pl(10, NonceBody(b"q" * 16), "NONCE"),
                    *ke,
                    *ids,
                ]
            ),
        )
    )
    recs.append(
        ike1(
            8,
            32,
            from_initiator=False,
            encrypted=True,
            mid=0x1234,
            decrypted=d(
                [
                    pl(8, HashBody("hash", b"2" * 32), "HASH"),
                    pl(
                        1,
                        SaBody(
                            [v1_p2_proposal(QM_R, group=14 if pfs else None)], doi=1, situation=1
                        ),
                        "SA",
                    ),
                    pl(10, NonceBody(b"r" * 16), "NONCE"),
                    *ke,
                    *ids,
                ]
            ),
        )
    )
    recs.append(
        ike1(
            9,
            32,
            from_initiator=True,
            encrypted=True,
            mid=0x1234,
            decrypted=d([pl(8, HashBody("hash", b"3" * 32), "HASH")]),
        )
    )
    recs += [esp(10, QM_R, 1), esp(11, QM_I, 1, src=B, dst=A), esp(12, QM_R, 2)]
    recs.append(
        ike1(
            13,
            5,
            from_initiator=True,
            encrypted=True,
            mid=0x99,
            decrypted=d(
                [
                    pl(8, HashBody("hash", b"4" * 32), "HASH"),
                    pl(12, DeleteBody(1, [SPI_I + b"\x22" * 8], doi=1), "D"),
                ]
            ),
        )
    )
    return recs


def _p1(t):
    from ipsec_inspect.core.records import Proposal

    return Proposal(1, 1, b"", [t])


AM_CKY_R = bytes.fromhex("3333333333333333")


def am_hash_r(
    psk: bytes, ke_i: bytes, ke_r: bytes, sa_i: bytes, id_r: bytes, ni: bytes, nr: bytes
) -> bytes:
    """HASH_R of RFC 2409 §5 with HMAC-SHA1: prf(SKEYID, g^xr|g^xi|CKY-R|CKY-I|SAi_b|IDir_b)."""
    import hmac

    skeyid = hmac.new(psk, ni + nr, "sha1").digest()
    return hmac.new(skeyid, ke_r + ke_i + AM_CKY_R + SPI_I + sa_i + id_r, "sha1").digest()


def v1_aggressive_psk(psk: bytes = b"correct horse") -> list[Record]:
    """Aggressive Mode with PSK; payload bodies live in ``data`` so psk-crack can cut them."""
    from ipsec_inspect.core.records import IkePayload

    sa_body, ke_i, ni, id_i = (
        b"\x00\x00\x00\x01SA-I",
        b"G" * 128,
        b"n" * 20,
        b"\x03\x00\x00\x00alice",
    )
    ke_r, nr, id_r = b"R" * 128, b"m" * 20, b"\x02\x00\x00\x00gw.example"
    hash_r = am_hash_r(psk, ke_i, ke_r, sa_body, id_r, ni, nr)

    def message(
        frame: int, from_init: bool, parts: list[tuple[int, bytes, object]], spi_r: bytes
    ) -> object:
        data = b""
        payloads = []
        for ptype, body_bytes, body in parts:
            payloads.append(IkePayload(ptype, str(ptype), len(data), 4 + len(body_bytes), body))  # type: ignore[arg-type]
            data += b"\x00\x00" + (4 + len(body_bytes)).to_bytes(2, "big") + body_bytes
        return ike1(frame, 4, from_initiator=from_init, spi_r=spi_r, data=data, payloads=payloads)

    t = v1_p1_transform(encr=5, bits=None, hash_=2, auth=1, group=2)
    am1 = message(
        1,
        True,
        [
            (1, sa_body, SaBody([_p1(t)], doi=1, situation=1)),
            (4, ke_i, KeBody(None, ke_i)),
            (10, ni, NonceBody(ni)),
            (5, id_i, IdBody(3, id_i[4:], "alice")),
        ],
        ZERO,
    )
    am2 = message(
        2,
        False,
        [
            (1, b"SA-R", SaBody([_p1(t)], doi=1, situation=1)),
            (4, ke_r, KeBody(None, ke_r)),
            (10, nr, NonceBody(nr)),
            (5, id_r, IdBody(2, id_r[4:], "gw.example")),
            (8, hash_r, HashBody("hash", hash_r)),
        ],
        AM_CKY_R,
    )
    return [am1, am2]  # type: ignore[list-item]


__all__ = [
    "AM_CKY_R",
    "C1_I",
    "C1_R",
    "C2_I",
    "C2_R",
    "QM_I",
    "QM_R",
    "am_hash_r",
    "natd",
    "ok",
    "v1_aggressive_psk",
    "v1_main",
    "v2_auth_failed",
    "v2_full",
    "v2_init",
    "v2_no_proposal",
]
