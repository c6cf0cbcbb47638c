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
    INITIATE_IKE = "initiate-ike"  # swanctl --initiate --ike only (childless, RFC 6023)
    REAUTH = "reauth"  # swanctl --rekey --ike --reauth from ``side`` (RFC 7296 2.8.3)
    MOVE = "move"  # the left's outer address changes to ``config.LEFT_MOVED`` (MOBIKE)
    REDIRECT = "redirect"  # swanctl --redirect from the right to ``config.RIGHT_ALT`` (RFC 5685)
    WAIT = "wait"  # sleep ``count`` seconds (DPD, lifetimes)
    HALF_OPEN = "half-open"  # one IKE_SA_INIT from the left's port 5000, never completed
    AWAIT_CHILD = "await-child"  # wait up to ``count`` s for the CHILD_SA SPIs to change
    REBIND = "rebind"  # the NAT (Scenario.nat) gives the 4500 flow a new public port


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
    # "psk", "pubkey" (certificates made with openssl), "eap-md5" (the left authenticates
    # with EAP-MD5, the right with its certificate) or "xauth" (IKEv1 PSK, then an XAUTH round)
    auth: str = "psk"
    psk: str = "realpeer-sample-psk-not-secret"
    psk_right: str | None = None
    ike_proposals_right: str | None = None
    esp_proposals_right: str | None = None
    aggressive: bool = False
    fragment_size: int = 0  # charon.fragment_size; 0 keeps strongSwan's default
    expect_established: bool = True
    expect_notify: str = ""  # notify the failed initiation must log, e.g. NO_PROPOSAL_CHOSEN
    tags: tuple[str, ...] = field(default=())
    # swanctl.conf / strongswan.conf overrides, "key = value" lines replacing or adding a key:
    left_conn: tuple[str, ...] = ()  # connections.rp on the left
    right_conn: tuple[str, ...] = ()
    left_child: tuple[str, ...] = ()  # connections.rp.children.net on the left
    right_child: tuple[str, ...] = ()
    left_charon: tuple[str, ...] = ()  # the charon section of the left's strongswan.conf
    right_charon: tuple[str, ...] = ()
    plugins: str = ""  # charon plugins loaded beyond config.PLUGINS (eap-md5, xauth-generic)
    pool: bool = False  # the right assigns the left's inner address as a virtual IP
    expect_children: int = 1  # CHILD_SAs each side holds once a step has settled
    # a user-space NAT between the peers (tests/realpeer/nat_relay.py); captured on the right
    nat: bool = False
    # our IKE_SA_INIT redirector (tests/realpeer/redirector.py) on config.REDIRECTOR, beside
    # the right's charon, sending the left to config.RIGHT_ALT
    redirector: bool = False

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


def wait(seconds: int) -> Step:
    return Step(Action.WAIT, count=seconds)


def await_child(seconds: int) -> Step:
    return Step(Action.AWAIT_CHILD, count=seconds)


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
    Scenario(
        name="ikev2-mobike",
        description=(
            "IKEv2 PSK with MOBIKE (RFC 4555): traffic, then the initiator's outer address "
            "changes from 192.0.2.1 to 192.0.2.3; charon sends N(ADDITIONAL_IP4_ADDRESS), a path "
            "check with COOKIE2 and UPDATE_SA_ADDRESSES from the new address, and (kernel-libipsec "
            "cannot update an installed SA) rekeys the CHILD_SA; traffic from the new address, "
            "terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        left_conn=("mobike = yes", "local_addrs = %any"),
        right_conn=("mobike = yes", "remote_addrs = %any"),
        steps=_steps(
            INIT, ping(3), SNAP, Step(Action.MOVE), await_child(20), ping(3), SNAP, terminate()
        ),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-reauth-mbb",
        description=(
            "IKEv2 PSK reauthentication make-before-break (RFC 7296 2.8.3, "
            "charon.make_before_break): traffic, the initiator starts a new IKE_SA_INIT and "
            "IKE_AUTH with a new CHILD_SA, then deletes the old IKE SA; traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        left_charon=("make_before_break = yes",),
        steps=_steps(INIT, ping(3), SNAP, Step(Action.REAUTH), ping(3), SNAP, terminate()),
        tags=("vpnlife", "quick-vpnlife"),
    ),
    Scenario(
        name="ikev2-reauth-bbm",
        description=(
            "IKEv2 PSK reauthentication break-before-make (strongSwan's default): traffic, the "
            "initiator deletes the old IKE SA and its CHILD_SA, then negotiates a new IKE SA "
            "with a new CHILD_SA; traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        steps=_steps(INIT, ping(3), SNAP, Step(Action.REAUTH), ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-volume-rekey",
        description=(
            "IKEv2 PSK with a CHILD_SA rekeyed twice by volume (rekey_packets = 6, "
            "rand_packets = 0): after 3 s idle, 8 pings (0.2 s apart) cross the limit and charon "
            "rekeys with "
            "CREATE_CHILD_SA and N(REKEY_SA); then 8 back-to-back UDP echoes cross it again on "
            "the new SA, in a fraction of the time; the old SAs carry a packet or so beyond the "
            "limit while the exchange runs; 3 pings, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        left_child=("rekey_packets = 6", "rand_packets = 0", "life_packets = 40"),
        steps=_steps(
            INIT,
            wait(3),
            ping(8),
            await_child(20),
            udp(8),
            await_child(20),
            ping(3),
            wait(2),  # the rekeyed SAs are gone (delete_rekeyed_delay): one SA in the listing
            SNAP,
            terminate(),
        ),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-time-rekey",
        description=(
            "IKEv2 PSK where the initiator rekeys by time only (CHILD_SA rekey_time = 10s, "
            "IKE SA rekey_time = 16s, rand_time = 0s, no volume limits): 2 pings, the first "
            "CHILD_SA rekey at 10 s, 5 pings and 4 UDP echoes, the IKE SA rekey at 16 s "
            "(CREATE_CHILD_SA with a new KE; the CHILD_SA moves), the second CHILD_SA rekey "
            "at 20 s; 3 pings, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        left_conn=("rekey_time = 16s", "rand_time = 0s", "over_time = 20s"),
        left_child=("rekey_time = 10s", "rand_time = 0s", "life_time = 30s"),
        steps=_steps(
            INIT,
            ping(2),
            await_child(15),
            ping(5),
            udp(4),
            await_child(15),
            ping(3),
            wait(2),
            SNAP,
            terminate(),
        ),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-hard-expiry",
        description=(
            "IKEv2 PSK with a CHILD_SA that hard-expires (life_time = 5s, no rekey): traffic, "
            "charon closes the expired CHILD_SA with an INFORMATIONAL Delete and re-creates it "
            "with CREATE_CHILD_SA without REKEY_SA; traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        left_child=("life_time = 5s", "rand_time = 0s"),
        steps=_steps(INIT, ping(3), await_child(20), ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-eap-md5-vip",
        description=(
            "IKEv2 with EAP-MD5 (identity alice; EAP-Identity, then MD5-Challenge over several "
            "IKE_AUTH rounds) and the responder's certificate; a virtual IP from the responder's "
            "pool with DNS, NBNS and subnet attributes in CP(CFG_REPLY); traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        auth="eap-md5",
        pool=True,
        plugins="eap-identity eap-md5",
        steps=_steps(INIT, ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-multiple-auth",
        description=(
            "IKEv2 with RFC 4739 multiple authentication: the initiator authenticates with its "
            "PSK, announces ANOTHER_AUTH_FOLLOWS, then with EAP-MD5 (identity alice) in a second "
            "round; the CHILD_SA offered in the first IKE_AUTH request is answered in the last "
            "response; traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        auth="psk+eap-md5",
        plugins="eap-identity eap-md5",
        steps=_steps(INIT, ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev1-aggressive-xauth",
        description=(
            "IKEv1 Aggressive Mode with PSK and XAUTH (user alice, draft-beaulieu-ike-xauth), a "
            "virtual IP by Mode Config (pull) with DNS and NBNS attributes, Quick Mode; traffic, "
            "then DPD R-U-THERE / R-U-THERE-ACK while idle; terminate"
        ),
        ike_version=1,
        ike_proposals="aes256-sha256-modp2048",
        esp_proposals="aes256-sha256",
        aggressive=True,
        auth="xauth",
        pool=True,
        plugins="xauth-generic",
        left_conn=("dpd_delay = 2s",),
        steps=_steps(INIT, ping(3), SNAP, wait(5), terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev1-nat-rebinding",
        description=(
            "IKEv1 Main Mode PSK with NAT-T through a NAT whose mapping changes mid-tunnel: the "
            "initiator 198.51.100.1 reaches the gateway 192.0.2.2 through a user-space NAT "
            "(tests/realpeer/nat_relay.py, ours) that forwards from 192.0.2.254; real NAT-D "
            "mismatch, IKE floats to 4500 from public port 44500; traffic; the NAT drops the "
            "4500 mapping and the next packets leave from 44501 (a rebinding); DPD and traffic "
            "from the new port; terminate. Captured on the gateway's side"
        ),
        ike_version=1,
        ike_proposals="aes128-sha256-modp2048",
        esp_proposals="aes128-sha256",
        nat=True,
        left_conn=("dpd_delay = 2s",),
        right_conn=("dpd_delay = 0s",),
        steps=_steps(INIT, ping(3), SNAP, Step(Action.REBIND), wait(4), ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-childless",
        description=(
            "IKEv2 PSK childless initiation (RFC 6023, childless = force): IKE_AUTH without SA, "
            "TSi, TSr; the first CHILD_SA comes in a CREATE_CHILD_SA; traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        left_conn=("childless = force",),
        steps=_steps(Step(Action.INITIATE_IKE), INIT, ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-child-failure",
        description=(
            "IKEv2 PSK where the CHILD_SA proposal inside IKE_AUTH is refused: the IKE SA is "
            "established, the IKE_AUTH response carries N(NO_PROPOSAL_CHOSEN) instead of SA, "
            "TSi, TSr; no ESP; terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        esp_proposals_right="aes256-sha512",
        expect_children=0,
        expect_notify="NO_PROPOSAL_CHOSEN",
        steps=_steps(INIT, SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-cookie-invalid-ke",
        description=(
            "IKEv2 PSK where IKE_SA_INIT is retried twice: a half-open IKE SA (one IKE_SA_INIT "
            "from the left's UDP port 5000, never completed) reaches the responder's "
            "cookie_threshold = 1, so it answers the real initiator with N(COOKIE), then with "
            "N(INVALID_KE_PAYLOAD) for its Curve25519 KE (it accepts only MODP-2048); the third "
            "IKE_SA_INIT with the cookie and a MODP-2048 KE succeeds; traffic, terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519-modp2048",
        ike_proposals_right="aes128-sha256-modp2048",
        esp_proposals="aes128gcm16",
        right_charon=("cookie_threshold = 1", "half_open_timeout = 3"),
        steps=_steps(Step(Action.HALF_OPEN), INIT, ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-redirect-init",
        description=(
            "IKEv2 PSK redirected during IKE_SA_INIT (RFC 5685 §4.1): the initiator (a real "
            "charon, N(REDIRECT_SUPPORTED)) starts with 192.0.2.4, where our redirector "
            "(tests/realpeer/redirector.py, not a charon) answers N(REDIRECT) naming 192.0.2.3 "
            "with the initiator's nonce; charon follows with a new IKE_SA_INIT carrying "
            "N(REDIRECTED_FROM 192.0.2.4) to the real charon gateway on 192.0.2.3; traffic, "
            "terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        redirector=True,
        left_conn=("remote_addrs = 192.0.2.4",),
        right_conn=("local_addrs = 192.0.2.3",),
        steps=_steps(INIT, ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
    Scenario(
        name="ikev2-redirect",
        description=(
            "IKEv2 PSK with a gateway redirect (RFC 5685) of an established IKE SA: traffic, "
            "the responder sends INFORMATIONAL N(REDIRECT) to 192.0.2.3; the initiator deletes "
            "the IKE SA and negotiates a new one with 192.0.2.3 (N(REDIRECTED_FROM)); traffic, "
            "terminate"
        ),
        ike_version=2,
        ike_proposals="aes128-sha256-x25519",
        esp_proposals="aes128gcm16",
        right_conn=("local_addrs = 192.0.2.2, 192.0.2.3",),
        steps=_steps(INIT, ping(3), SNAP, Step(Action.REDIRECT), ping(3), SNAP, terminate()),
        tags=("vpnlife",),
    ),
)

BY_NAME: dict[str, Scenario] = {scenario.name: scenario for scenario in SCENARIOS}
