"""Scenario definitions: what each real-peer capture negotiates and which events it drives.

Why declarative: a scenario is data (proposals, authentication, the ordered steps), so adding one
is a few lines here and the harness stays the one place that knows how to run daemons. The
``description`` of each scenario is copied into ``truth.json`` and the samples README.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Side(StrEnum):
    """Which daemon performs a step. ``left`` initiates the IKE SA in every scenario."""

    LEFT = "left"
    RIGHT = "right"


class Action(StrEnum):
    """One thing the harness does during a scenario."""

    INITIATE = "initiate"  # swanctl --initiate --child (from the left)
    PING = "ping"  # ping -I inner-left inner-right, ``count`` echo requests
    UDP_ECHO = "udp-echo"  # ``count`` UDP datagrams to an echo server behind the right peer
    REKEY_CHILD = "rekey-child"  # swanctl --rekey --child from ``side``
    REKEY_IKE = "rekey-ike"  # swanctl --rekey --ike from ``side``
    LIST_SAS = "list-sas"  # snapshot of swanctl --list-sas on both sides into truth.json
    TERMINATE = "terminate"  # swanctl --terminate --ike from ``side``


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    side: Side = Side.LEFT
    count: int = 0  # packets for PING / UDP_ECHO


@dataclass(frozen=True, slots=True)
class Scenario:
    """One capture: the connection both peers load and the steps the harness drives.

    ``ike_proposals_right``/``esp_proposals_right`` default to the left's; a mismatch scenario
    sets them apart. ``psk_right`` likewise defaults to ``psk``. ``expect_established`` is False
    for scenarios whose initiation must fail; the harness then checks the failure instead.
    """

    name: str
    description: str
    ike_version: int
    ike_proposals: str
    esp_proposals: str
    steps: tuple[Step, ...]
    auth: str = "psk"  # "psk" or "pubkey" (certificates made with openssl)
    psk: str = "realpeer-sample-psk-not-secret"
    psk_right: str | None = None
    ike_proposals_right: str | None = None
    esp_proposals_right: str | None = None
    aggressive: bool = False
    fragment_size: int = 0  # charon.fragment_size; 0 keeps strongSwan's default
    expect_established: bool = True
    expect_notify: str = ""  # notify the failed initiation must log, e.g. NO_PROPOSAL_CHOSEN
    tags: tuple[str, ...] = field(default=())

    @property
    def right_ike_proposals(self) -> str:
        return self.ike_proposals_right or self.ike_proposals

    @property
    def right_esp_proposals(self) -> str:
        return self.esp_proposals_right or self.esp_proposals

    @property
    def right_psk(self) -> str:
        return self.psk_right or self.psk


def _steps(*items: Step) -> tuple[Step, ...]:
    return tuple(items)


INIT = Step(Action.INITIATE)
SNAP = Step(Action.LIST_SAS)


def ping(count: int) -> Step:
    return Step(Action.PING, count=count)


def udp(count: int) -> Step:
    return Step(Action.UDP_ECHO, count=count)


def rekey_child(side: Side = Side.LEFT) -> Step:
    return Step(Action.REKEY_CHILD, side=side)


def rekey_ike(side: Side = Side.LEFT) -> Step:
    return Step(Action.REKEY_IKE, side=side)


def terminate(side: Side = Side.LEFT) -> Step:
    return Step(Action.TERMINATE, side=side)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="ikev2-psk-gcm",
        description=(
            "IKEv2 PSK, IKE AES-GCM-16/256 with PRF-HMAC-SHA2-256 and Curve25519, ESP AES-GCM-16/128: "
            "traffic, CHILD_SA rekey initiated by the responder, IKE_SA rekey, more traffic, "
            "terminate with Delete payloads"
        ),
        ike_version=2,
        ike_proposals="aes256gcm16-prfsha256-x25519",
        esp_proposals="aes128gcm16",
        steps=_steps(
            INIT,
            ping(3),
            udp(3),
            SNAP,
            rekey_child(Side.RIGHT),
            ping(3),
            SNAP,
            rekey_ike(),
            udp(3),
            ping(2),
            SNAP,
            terminate(),
        ),
        tags=("quick",),
    ),
    Scenario(
        name="ikev2-cbc-sha256-modp2048",
        description=(
            "IKEv2 PSK, IKE AES-CBC-256/HMAC-SHA2-256-128/MODP-2048, ESP AES-CBC-128 with "
            "HMAC-SHA2-256-128: traffic, CHILD_SA rekey, more traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes256-sha256-modp2048",
        esp_proposals="aes128-sha256",
        steps=_steps(INIT, ping(3), udp(2), SNAP, rekey_child(), ping(3), SNAP, terminate()),
    ),
    Scenario(
        name="ikev2-x25519-pfs",
        description=(
            "IKEv2 PSK, IKE AES-CBC-128/HMAC-SHA2-256-128/Curve25519, ESP AES-CBC-256 with "
            "HMAC-SHA2-512-256 and PFS (Curve25519) on the CHILD_SA rekey: traffic, rekey with a "
            "KE payload, more traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes256-sha512-x25519",
        steps=_steps(INIT, ping(3), SNAP, rekey_child(), ping(3), SNAP, terminate()),
    ),
    Scenario(
        name="ikev2-chacha20",
        description=(
            "IKEv2 PSK, IKE ChaCha20-Poly1305/PRF-HMAC-SHA2-256/Curve25519, ESP ChaCha20-Poly1305: "
            "traffic, CHILD_SA rekey, terminate (tshark 4.0 cannot decrypt ChaCha20-Poly1305)"
        ),
        ike_version=2,
        ike_proposals="chacha20poly1305-prfsha256-x25519",
        esp_proposals="chacha20poly1305",
        steps=_steps(INIT, ping(3), SNAP, rekey_child(), ping(2), SNAP, terminate()),
    ),
    Scenario(
        name="ikev1-main-psk",
        description=(
            "IKEv1 Main Mode with PSK (AES-CBC-128/HMAC-SHA1/MODP-2048), Quick Mode ESP "
            "AES-CBC-128/HMAC-SHA1-96: traffic, Quick Mode rekey, more traffic, Delete payloads"
        ),
        ike_version=1,
        ike_proposals="aes128-sha1-modp2048",
        esp_proposals="aes128-sha1",
        steps=_steps(INIT, ping(3), SNAP, rekey_child(), ping(3), SNAP, terminate()),
    ),
    Scenario(
        name="ikev1-aggressive-psk",
        description=(
            "IKEv1 Aggressive Mode with PSK (AES-CBC-256/HMAC-SHA2-256/MODP-2048), Quick Mode ESP "
            "AES-CBC-256/HMAC-SHA2-256-128: traffic, Delete payloads"
        ),
        ike_version=1,
        ike_proposals="aes256-sha256-modp2048",
        esp_proposals="aes256-sha256",
        aggressive=True,
        steps=_steps(INIT, ping(3), udp(2), SNAP, terminate()),
    ),
    Scenario(
        name="ikev2-cert-fragmentation",
        description=(
            "IKEv2 with RSA certificates (made with openssl) and RFC 7383 fragmentation forced by "
            "a 500-byte fragment size, so IKE_AUTH travels in several encrypted fragments; ESP "
            "AES-GCM-16/256: traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-ecp256",
        esp_proposals="aes256gcm16",
        auth="pubkey",
        fragment_size=500,
        steps=_steps(INIT, ping(3), SNAP, terminate()),
    ),
    Scenario(
        name="ikev2-proposal-mismatch",
        description=(
            "IKEv2 IKE_SA_INIT whose only proposal (AES-CBC-128/HMAC-SHA2-256/MODP-2048) the "
            "responder does not accept: the responder answers NO_PROPOSAL_CHOSEN"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-modp2048",
        ike_proposals_right="aes256gcm16-prfsha384-ecp384",
        esp_proposals="aes128gcm16",
        expect_established=False,
        expect_notify="NO_PROPOSAL_CHOSEN",
        steps=_steps(INIT),
    ),
    Scenario(
        name="ikev2-wrong-psk",
        description=(
            "IKEv2 with different pre-shared keys on the two peers: IKE_SA_INIT succeeds, the "
            "responder rejects the initiator's AUTH and answers AUTHENTICATION_FAILED in the "
            "encrypted IKE_AUTH response"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        psk_right="a-different-psk-on-the-right",
        expect_established=False,
        expect_notify="AUTHENTICATION_FAILED",
        steps=_steps(INIT),
    ),
)

BY_NAME: dict[str, Scenario] = {scenario.name: scenario for scenario in SCENARIOS}
