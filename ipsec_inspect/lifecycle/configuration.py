"""What decrypted IKE messages say about the client: configuration, identities, authentication.

Why one module: IKEv2 configuration payloads (RFC 7296 §3.15), IKEv1 Mode Config
(draft-dukes-ike-mode-cfg) and XAUTH (draft-beaulieu-ike-xauth) use the same attribute
numbers and the same payload shape, and EAP (RFC 7296 §2.16) and multiple authentication
(RFC 4739) are read from the same IKE_AUTH requests. This module fills, on the IKE SA:

- ``virtual_ips``: INTERNAL_IP4/IP6_ADDRESS in a CFG_REPLY / Mode Config REPLY or SET;
- ``configuration``: the other attributes by name (dns, nbns, dhcp, netmask, subnets,
  application_version, dns_domain, ...), values as text;
- ``identities["xauth"]`` (XAUTH-USER-NAME), ``identities["eap"]`` (the EAP-Identity
  response); the XAUTH password goes to ``secrets`` (exported only with keys);
- ``auth_rounds`` / ``auth_name``: the initiator's authentication as a name (``psk``,
  ``pubkey``, ``eap-md5``, ``xauth-psk``, rounds joined with ``+``);
- ``established_time`` / ``established_frame``: the IKE_AUTH response (the last one, with
  EAP) or the phase-1 message that made the SA ESTABLISHED.
"""

from __future__ import annotations

import ipaddress

from ipsec_inspect.core.records import AuthBody, ConfigBody, EapBody, IdBody, IkeMessage, NotifyBody
from ipsec_inspect.ipsec import registry
from ipsec_inspect.lifecycle.model import IkeSa, Stage
from ipsec_inspect.lifecycle.state import TrackerState

IKE_AUTH, CREATE_CHILD_SA = 35, 36
PT_IDI = 35
CFG_REQUEST, CFG_REPLY, CFG_SET, CFG_ACK = 1, 2, 3, 4
# configuration attributes (RFC 7296 §3.15.1, RFC 8598; IKEv1 mode-cfg uses the same numbers)
A_IP4_ADDRESS, A_IP4_NETMASK, A_IP4_DNS, A_IP4_NBNS, A_IP4_DHCP = 1, 2, 3, 4, 6
A_APP_VERSION, A_IP6_ADDRESS, A_IP6_DNS, A_IP6_DHCP = 7, 8, 10, 12
A_IP4_SUBNET, A_SUPPORTED, A_IP6_SUBNET, A_DNS_DOMAIN = 13, 14, 15, 25
# XAUTH attributes (draft-beaulieu-ike-xauth §6)
X_TYPE, X_USER, X_PASSWORD, X_PASSCODE, X_STATUS = 16520, 16521, 16522, 16523, 16527
XAUTH_ATTRIBUTES = range(16520, 16530)
N_ANOTHER_AUTH_FOLLOWS = 16405
EAP_REQUEST, EAP_RESPONSE, EAP_SUCCESS, EAP_FAILURE = 1, 2, 3, 4
EAP_IDENTITY, EAP_NOTIFICATION, EAP_NAK = 1, 2, 3

_CONFIG_NAMES = {
    A_IP4_NETMASK: "netmask",
    A_IP4_DNS: "dns",
    A_IP6_DNS: "dns",
    A_IP4_NBNS: "nbns",
    A_IP4_DHCP: "dhcp",
    A_IP6_DHCP: "dhcp",
    A_APP_VERSION: "application_version",
    A_IP4_SUBNET: "subnets",
    A_IP6_SUBNET: "subnets",
    A_DNS_DOMAIN: "dns_domain",
}
#: IKEv2 AUTH methods (RFC 7296 §3.8, RFC 7427, RFC 7619) by the name strongSwan configures
V2_AUTH_NAMES = {1: "pubkey", 2: "psk", 3: "pubkey", 9: "pubkey", 10: "pubkey", 11: "pubkey"}
V2_AUTH_NAMES |= {12: "null", 13: "password", 14: "pubkey"}
#: IKEv1 authentication attribute values (RFC 2409 App. A, XAUTH and hybrid drafts)
V1_AUTH_NAMES = {1: "psk", 2: "pubkey", 3: "pubkey", 4: "rsa-encryption", 5: "rsa-encryption"}
V1_AUTH_NAMES |= {8: "pubkey", 9: "pubkey", 10: "pubkey", 11: "pubkey"}
V1_AUTH_NAMES |= {65001: "xauth-psk", 65002: "xauth-psk", 65003: "xauth-pubkey"}
V1_AUTH_NAMES |= {65004: "xauth-pubkey", 65005: "xauth-pubkey", 65006: "xauth-pubkey"}
V1_AUTH_NAMES |= {n: "xauth-rsa-encryption" for n in range(65007, 65011)}
V1_AUTH_NAMES |= {64221: "hybrid", 64222: "hybrid"}
#: EAP method types (RFC 3748 and the IANA registry) by strongSwan's eap-* plugin names
EAP_NAMES = {4: "md5", 5: "otp", 6: "gtc", 13: "tls", 17: "leap", 18: "sim", 21: "ttls"}
EAP_NAMES |= {23: "aka", 25: "peap", 26: "mschapv2", 43: "fast", 47: "psk", 49: "ikev2"}
EAP_NAMES |= {50: "aka-prime", 52: "pwd", 55: "teap", 254: "expanded"}


def eap_name(eap_type: int) -> str:
    return f"eap-{EAP_NAMES.get(eap_type, str(eap_type))}"


def read_configuration(st: TrackerState, sa: IkeSa, msg: IkeMessage, decrypted: bool) -> None:
    """Read one message's configuration, identity and authentication facts into ``sa``."""
    _established(sa, msg)
    if sa.version == 1 and sa.auth_method is not None and not sa.auth_rounds:
        sa.auth_name = V1_AUTH_NAMES.get(sa.auth_method, str(sa.auth_method))
    if not decrypted:
        return
    plain = msg.decrypted or []
    for p in plain:
        if isinstance(p.body, ConfigBody):
            _config(st, sa, msg, p.body)
        elif isinstance(p.body, EapBody):
            _eap(st, sa, msg, p.body)
    if sa.version == 2 and msg.header.exchange == IKE_AUTH and not msg.header.is_response:
        _auth_round(sa, msg)


def _established(sa: IkeSa, msg: IkeMessage) -> None:
    if sa.state != "ESTABLISHED":
        return
    h = msg.header
    last_auth = sa.version == 2 and h.exchange == IKE_AUTH and h.is_response
    if sa.established_frame is None or last_auth:
        sa.established_time, sa.established_frame = msg.meta.time, msg.meta.frame


def _auth_round(sa: IkeSa, msg: IkeMessage) -> None:
    """The initiator's IKE_AUTH requests: a request with IDi opens a round (RFC 4739 §3);
    its AUTH names the method, no AUTH means EAP; AUTH without IDi closes an EAP round."""
    plain = msg.decrypted or []
    has_id = any(isinstance(p.body, IdBody) and p.type == PT_IDI for p in plain)
    auth = next((p.body for p in plain if isinstance(p.body, AuthBody)), None)
    if has_id:
        if auth is not None:
            sa.auth_rounds.append(V2_AUTH_NAMES.get(auth.method, str(auth.method)))
        else:
            sa.auth_rounds.append("eap")
    sa.auth_name = "+".join(sa.auth_rounds) or None


def _eap(st: TrackerState, sa: IkeSa, msg: IkeMessage, body: EapBody) -> None:
    m = msg.meta
    if body.code == EAP_RESPONSE and body.eap_type == EAP_IDENTITY and body.data:
        ident = body.data.decode("utf-8", "replace")
        if sa.identities.get("eap") != ident:
            sa.identities["eap"] = ident
            st.note(sa, Stage.CIRCUIT, m, "ike.eap.identity", f"EAP identity {ident}")
    elif body.code == EAP_REQUEST and body.eap_type not in (
        None,
        EAP_IDENTITY,
        EAP_NOTIFICATION,
        EAP_NAK,
    ):
        assert body.eap_type is not None
        if body.eap_type not in sa.eap_types:
            sa.eap_types.append(body.eap_type)
            name = eap_name(body.eap_type)
            st.note(sa, Stage.CIRCUIT, m, "ike.eap.method", f"EAP method {name}")
            for n, r in enumerate(sa.auth_rounds):
                if r == "eap":  # the open EAP round gets its method
                    sa.auth_rounds[n] = name
                    break
            sa.auth_name = "+".join(sa.auth_rounds) or name
    elif body.code in (EAP_SUCCESS, EAP_FAILURE):
        ok = body.code == EAP_SUCCESS
        st.note(sa, Stage.CIRCUIT, m, f"ike.eap.{'success' if ok else 'failure'}",
                f"EAP {'Success' if ok else 'Failure'}")  # fmt: skip


def _config(st: TrackerState, sa: IkeSa, msg: IkeMessage, body: ConfigBody) -> None:
    m = msg.meta
    assigned = body.cfg_type in (CFG_REPLY, CFG_SET)
    names: list[str] = []
    for a in body.attributes:
        value = a.value if isinstance(a.value, bytes) else b""
        if a.type in XAUTH_ATTRIBUTES:
            _xauth(st, sa, msg, a.type, a.value)
            continue
        if a.type == A_SUPPORTED or (not value and not isinstance(a.value, int)):
            continue  # an empty attribute asks for a value; SUPPORTED_ATTRIBUTES lists them
        text = attribute_text(a.type, a.value)
        if a.type in (A_IP4_ADDRESS, A_IP6_ADDRESS):
            if assigned and text not in sa.virtual_ips:
                sa.virtual_ips.append(text)
                names.append(f"virtual IP {text}")
            continue
        if not assigned and a.type != A_APP_VERSION:
            continue  # a requested value, not the one granted
        key = _CONFIG_NAMES.get(a.type) or _clean(registry.cp_attribute_name(sa.version, a.type))
        have = sa.configuration.setdefault(key, [])
        if text not in have:
            have.append(text)
            names.append(f"{key} {text}")
    if names:
        kind = {CFG_REPLY: "CFG_REPLY", CFG_SET: "CFG_SET", CFG_REQUEST: "CFG_REQUEST"}.get(
            body.cfg_type, f"CFG type {body.cfg_type}"
        )
        what = "Mode Config" if sa.version == 1 else "configuration payload"
        st.note(
            sa,
            Stage.CIRCUIT,
            m,
            "ike.config",
            f"{what} {kind} from {m.src}: {', '.join(names)}",
        )


def _xauth(st: TrackerState, sa: IkeSa, msg: IkeMessage, kind: int, value: int | bytes) -> None:
    m = msg.meta
    if kind == X_USER and isinstance(value, bytes) and value:
        user = value.decode("utf-8", "replace")
        if sa.identities.get("xauth") != user:
            sa.identities["xauth"] = user
            st.note(sa, Stage.CIRCUIT, m, "ike.xauth.user", f"XAUTH user name {user}")
    elif kind in (X_PASSWORD, X_PASSCODE) and isinstance(value, bytes) and value:
        # a secret: kept for --include-keys, never in an event's text
        sa.secrets["xauth_password" if kind == X_PASSWORD else "xauth_passcode"] = value.decode(
            "utf-8", "replace"
        )
    elif kind == X_STATUS and isinstance(value, int):
        ok = value == 1
        st.note(
            sa,
            Stage.CIRCUIT,
            m,
            f"ike.xauth.{'ok' if ok else 'fail'}",
            f"XAUTH {'succeeded' if ok else 'failed'} (XAUTH-STATUS {value})",
        )


def attribute_text(kind: int, value: int | bytes) -> str:
    """One configuration attribute's value as text (addresses, subnets, strings)."""
    if isinstance(value, int):
        return str(value)
    try:
        if (
            kind in (A_IP4_ADDRESS, A_IP4_NETMASK, A_IP4_DNS, A_IP4_NBNS, A_IP4_DHCP)
            and len(value) == 4
        ):
            return str(ipaddress.IPv4Address(value))
        if kind == A_IP4_SUBNET and len(value) == 8:
            net = ipaddress.IPv4Network(
                f"{ipaddress.IPv4Address(value[:4])}/{ipaddress.IPv4Address(value[4:])}",
                strict=False,
            )
            return str(net)
        if kind in (A_IP6_ADDRESS, A_IP6_SUBNET) and len(value) == 17:
            addr = ipaddress.IPv6Address(value[:16])
            return str(addr) if kind == A_IP6_ADDRESS else f"{addr}/{value[16]}"
        if kind in (A_IP6_DNS, A_IP6_DHCP) and len(value) == 16:
            return str(ipaddress.IPv6Address(value))
    except ValueError:
        pass
    if kind in (A_APP_VERSION, A_DNS_DOMAIN) or all(32 <= b < 127 for b in value):
        return value.decode("utf-8", "replace")
    return value.hex()


def _clean(name: str) -> str:
    return name.lower().replace("internal_", "").replace("-", "_").replace(" ", "_")


def notify_names(msg: IkeMessage) -> set[int]:
    return {p.body.notify_type for p in msg.all_payloads if isinstance(p.body, NotifyBody)}
