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


def strongswan_conf(scenario: Scenario, directory: Path) -> str:
    """strongswan.conf for one side: modular loading off, private vici socket, key-level filelog."""
    fragment = f"  fragment_size = {scenario.fragment_size}\n" if scenario.fragment_size else ""
    return f"""charon {{
  load_modular = no
  load = {PLUGINS}
  install_virtual_ip = no
  delete_rekeyed = yes
  delete_rekeyed_delay = 1
  retransmit_tries = 2
  retransmit_timeout = 1.0
  retransmit_base = 1.4
{fragment}  i_dont_care_about_security_and_use_aggressive_mode_psk = {"yes" if scenario.aggressive else "no"}
  syslog {{
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


def swanctl_conf(scenario: Scenario, side: Side) -> str:
    """swanctl.conf for one side; the left initiates, the right only responds."""
    local, remote = peers(side)
    ike = scenario.ike_proposals if side is Side.LEFT else scenario.right_ike_proposals
    esp = scenario.esp_proposals if side is Side.LEFT else scenario.right_esp_proposals
    psk = scenario.psk if side is Side.LEFT else scenario.right_psk
    if scenario.auth == "pubkey":
        local_auth = f"auth = pubkey\n      certs = {side.value}.pem\n      id = {local.identity}"
        remote_auth = f"auth = pubkey\n      id = {remote.identity}"
        secrets = ""
    else:
        local_auth = f"auth = psk\n      id = {local.identity}"
        remote_auth = f"auth = psk\n      id = {remote.identity}"
        secrets = f"""secrets {{
  ike-rp {{
    id-local = {local.identity}
    id-remote = {remote.identity}
    secret = "{psk}"
  }}
}}
"""
    v2_only = "    mobike = no\n" if scenario.ike_version == 2 else ""
    fragmentation = "yes" if scenario.fragment_size else "no"
    return f"""connections {{
  {CONNECTION} {{
    version = {scenario.ike_version}
    local_addrs = {local.outer}
    remote_addrs = {remote.outer}
    encap = yes
    proposals = {ike}
    aggressive = {"yes" if scenario.aggressive else "no"}
    fragmentation = {fragmentation}
    rekey_time = 0
    reauth_time = 0
    dpd_delay = 0
    send_certreq = {"yes" if scenario.auth == "pubkey" else "no"}
    send_cert = {"always" if scenario.auth == "pubkey" else "never"}
{v2_only}    local {{
      {local_auth}
    }}
    remote {{
      {remote_auth}
    }}
    children {{
      {CHILD} {{
        local_ts = {local.inner}/32
        remote_ts = {remote.inner}/32
        esp_proposals = {esp}
        mode = tunnel
        rekey_time = 0
        start_action = none
        close_action = none
        dpd_action = clear
      }}
    }}
  }}
}}
{secrets}"""
