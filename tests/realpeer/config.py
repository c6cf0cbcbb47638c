"""Per-side strongswan.conf and swanctl.conf text for one scenario.

Why generated: each daemon needs its own vici socket, log file and plugin list (the machine's
global /etc/strongswan.conf must not matter), and the two sides of a scenario differ only in
addresses, identities, credentials and (for failure scenarios) proposals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .scenarios import Scenario, Side

PLUGINS = (
    "random nonce openssl aes sha1 sha2 hmac gcm chapoly curve25519 gmp pem pkcs1 pkcs8 x509 "
    "pubkey constraints kdf kernel-libipsec kernel-netlink socket-default vici"
)

CONNECTION = "rp"
CHILD = "net"


@dataclass(frozen=True, slots=True)
class Peer:
    """Addresses and identity of one side (documentation addresses only)."""

    side: Side
    outer: str  # address on the veth
    inner: str  # address on lo, protected by the CHILD_SA
    identity: str


LEFT = Peer(Side.LEFT, "192.0.2.1", "203.0.113.1", "left.example.org")
RIGHT = Peer(Side.RIGHT, "192.0.2.2", "203.0.113.2", "right.example.org")


def peers(side: Side) -> tuple[Peer, Peer]:
    """(local, remote) for ``side``."""
    return (LEFT, RIGHT) if side is Side.LEFT else (RIGHT, LEFT)


def vici_uri(directory: Path) -> str:
    return f"unix://{directory / 'charon.vici'}"


# a NAT between the peers (Scenario.nat): the left's private address, the NAT's two sides
NAT_CLIENT = "198.51.100.1"
NAT_PRIVATE = "198.51.100.254"
NAT_PUBLIC = "192.0.2.254"
LEFT_MOVED = "192.0.2.3"  # the left's outer address after a MOBIKE move
RIGHT_ALT = "192.0.2.3"
REDIRECTOR = "192.0.2.4"  # our IKE_SA_INIT redirector (Scenario.redirector), beside the right  # the right's second address, the target of a REDIRECT
POOL_ATTRIBUTES = (
    "dns = 198.51.100.53, 198.51.100.54",
    "nbns = 198.51.100.137",
    "subnet = 203.0.113.0/24",
)
XAUTH_USER = "alice"
XAUTH_PASSWORD = "realpeer-xauth-password-not-secret"
EAP_USER = "alice"
EAP_PASSWORD = "realpeer-eap-password-not-secret"


def _apply(defaults: dict[str, str], overrides: tuple[str, ...]) -> dict[str, str]:
    """``defaults`` with each ``key = value`` line of ``overrides`` replacing or adding a key."""
    merged = dict(defaults)
    for line in overrides:
        key, _, value = line.partition("=")
        merged[key.strip()] = value.strip()
    return merged


def _lines(options: dict[str, str], indent: str) -> str:
    return "".join(f"{indent}{key} = {value}\n" for key, value in options.items())


def strongswan_conf(scenario: Scenario, directory: Path, side: Side = Side.LEFT) -> str:
    """strongswan.conf for one side: modular loading off, private vici socket, key-level filelog."""
    plugins = f"{PLUGINS} {scenario.plugins}".strip()
    charon = {
        "load_modular": "no",
        "load": plugins,
        "install_virtual_ip": "no",
        "delete_rekeyed": "yes",
        "delete_rekeyed_delay": "1",
        "retransmit_tries": "2",
        "retransmit_timeout": "1.0",
        "retransmit_base": "1.4",
        "i_dont_care_about_security_and_use_aggressive_mode_psk": "yes"
        if scenario.aggressive
        else "no",
    }
    if scenario.fragment_size:
        charon["fragment_size"] = str(scenario.fragment_size)
    charon = _apply(charon, scenario.left_charon if side is Side.LEFT else scenario.right_charon)
    return f"""charon {{
{_lines(charon, "  ")}  syslog {{
    daemon {{
      default = -1
    }}
  }}
  filelog {{
    keylog {{
      path = {directory / "charon.log"}
      time_format = %Y-%m-%d %H:%M:%S
      time_add_ms = yes
      ike_name = yes
      append = no
      flush_line = yes
      default = 1
      ike = 4
      chd = 4
      mgr = 2
      cfg = 2
      knl = 2
      esp = 2
      enc = 1
      net = 1
    }}
  }}
  plugins {{
    vici {{
      socket = {vici_uri(directory)}
    }}
  }}
}}
swanctl {{
  socket = {vici_uri(directory)}
}}
"""


def _auth_rounds(
    scenario: Scenario, side: Side
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(local rounds, remote rounds) of one side: each round a swanctl ``local``/``remote`` block."""
    local, remote = peers(side)
    if scenario.auth == "pubkey":
        return (
            [{"auth": "pubkey", "certs": f"{side.value}.pem", "id": local.identity}],
            [{"auth": "pubkey", "id": remote.identity}],
        )
    if scenario.auth == "eap-md5":
        # the left (client) authenticates with EAP-MD5, the right (gateway) with its certificate
        if side is Side.LEFT:
            return (
                [{"auth": "eap-md5", "id": local.identity, "eap_id": EAP_USER}],
                [{"auth": "pubkey", "id": remote.identity}],
            )
        return (
            [{"auth": "pubkey", "certs": f"{side.value}.pem", "id": local.identity}],
            [{"auth": "eap-md5", "id": remote.identity, "eap_id": "%any"}],
        )
    rounds_local = [{"auth": "psk", "id": local.identity}]
    rounds_remote = [{"auth": "psk", "id": remote.identity}]
    if scenario.auth == "psk+eap-md5":  # RFC 4739: a PSK round, then an EAP-MD5 round
        if side is Side.LEFT:
            rounds_local.append({"auth": "eap-md5", "eap_id": EAP_USER})
        else:
            rounds_remote.append({"auth": "eap-md5", "eap_id": "%any"})
    if scenario.auth == "xauth":  # IKEv1: a second round, XAUTH, for the client (the left)
        if side is Side.LEFT:
            rounds_local.append({"auth": "xauth", "xauth_id": XAUTH_USER})
        else:
            rounds_remote.append({"auth": "xauth"})
    return rounds_local, rounds_remote


def _secrets(scenario: Scenario, side: Side) -> str:
    local, remote = peers(side)
    psk = scenario.psk if side is Side.LEFT else scenario.right_psk
    blocks = []
    if scenario.auth in ("psk", "xauth", "psk+eap-md5"):
        blocks.append(
            f"  ike-rp {{\n    id-local = {local.identity}\n    id-remote = {remote.identity}\n"
            f'    secret = "{psk}"\n  }}\n'
        )
    if scenario.auth == "xauth":
        blocks.append(
            f'  xauth-alice {{\n    id = {XAUTH_USER}\n    secret = "{XAUTH_PASSWORD}"\n  }}\n'
        )
    if scenario.auth in ("eap-md5", "psk+eap-md5"):
        blocks.append(f'  eap-alice {{\n    id = {EAP_USER}\n    secret = "{EAP_PASSWORD}"\n  }}\n')
    return f"secrets {{\n{''.join(blocks)}}}\n" if blocks else ""


def _pools(scenario: Scenario, side: Side) -> str:
    if not (scenario.pool and side is Side.RIGHT):
        return ""
    # a one-address pool holding the left's inner address: the virtual IP is then already on the
    # left's lo, so traffic from it matches the CHILD_SA although install_virtual_ip = no
    attributes = _lines(_apply({"addrs": f"{LEFT.inner}/32"}, POOL_ATTRIBUTES), "    ")
    return f"pools {{\n  vpool {{\n{attributes}  }}\n}}\n"


def swanctl_conf(scenario: Scenario, side: Side) -> str:
    """swanctl.conf for one side; the left initiates, the right only responds."""
    local, remote = peers(side)
    ike = scenario.ike_proposals if side is Side.LEFT else scenario.right_ike_proposals
    esp = scenario.esp_proposals if side is Side.LEFT else scenario.right_esp_proposals
    conn = {
        "version": str(scenario.ike_version),
        "local_addrs": local.outer,
        "remote_addrs": remote.outer,
        "encap": "yes",
        "proposals": ike,
        "aggressive": "yes" if scenario.aggressive else "no",
        "fragmentation": "yes" if scenario.fragment_size else "no",
        "rekey_time": "0",
        "reauth_time": "0",
        "dpd_delay": "0",
        "send_certreq": "yes" if scenario.auth in ("pubkey", "eap-md5") else "no",
        "send_cert": "always" if scenario.auth in ("pubkey", "eap-md5") else "never",
    }
    if scenario.ike_version == 2:
        conn["mobike"] = "no"
    if scenario.nat:  # the left talks to the NAT's inside; the right sees the NAT's outside
        if side is Side.LEFT:
            conn["local_addrs"], conn["remote_addrs"] = NAT_CLIENT, NAT_PRIVATE
        else:
            conn["remote_addrs"] = "%any"
    child = {
        "local_ts": f"{local.inner}/32",
        "remote_ts": f"{remote.inner}/32",
        "esp_proposals": esp,
        "mode": "tunnel",
        "rekey_time": "0",
        "start_action": "none",
        "close_action": "none",
        "dpd_action": "clear",
    }
    if scenario.pool:
        if side is Side.LEFT:
            conn["vips"] = "0.0.0.0"
            child["local_ts"] = "dynamic"
        else:
            conn["pools"] = "vpool"
            child["remote_ts"] = "dynamic"
    conn = _apply(conn, scenario.left_conn if side is Side.LEFT else scenario.right_conn)
    child = _apply(child, scenario.left_child if side is Side.LEFT else scenario.right_child)
    local_rounds, remote_rounds = _auth_rounds(scenario, side)
    auth = "".join(
        f"    {kind}{'' if n == 0 else f'-{n + 1}'} {{\n{_lines(block, '      ')}    }}\n"
        for kind, rounds in (("local", local_rounds), ("remote", remote_rounds))
        for n, block in enumerate(rounds)
    )
    return f"""connections {{
  {CONNECTION} {{
{_lines(conn, "    ")}{auth}    children {{
      {CHILD} {{
{_lines(child, "        ")}      }}
    }}
  }}
}}
{_secrets(scenario, side)}{_pools(scenario, side)}"""
