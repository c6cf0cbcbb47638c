"""Well-known IKE Vendor ID payload values, as data.

Why: a Vendor ID is an opaque byte string, yet it is often the only way to tell which
implementation (and version) a peer runs and which extensions it announces (NAT-T draft,
DPD, XAUTH, fragmentation). Most values are MD5 hashes of a string; some carry a version in
the bytes after a fixed prefix (Cisco Unity major.minor, Microsoft's ``MS NT5 ISAKMPOAKLEY``
Windows version, RFC 3706 DPD), so rows are either exact values or prefixes. Adding a vendor
is adding one row.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables

# (hex bytes, name, "exact" | "prefix")
VENDOR_IDS: tuple[tuple[str, str, str], ...] = (
    # --- NAT traversal: RFC 3947 and its drafts (MD5 of the draft name)
    (
        "4a131c81070358455c5728f20e95452f",
        "RFC 3947 Negotiation of NAT-Traversal in the IKE",
        "exact",
    ),
    ("4df37928e9fc4fd1b3262170d515c662", "draft-ietf-ipsec-nat-t-ike", "exact"),
    ("4485152d18b6bbcd0be8a8469579ddcc", "draft-ietf-ipsec-nat-t-ike-00", "exact"),
    ("16f6ca16e4a4066d83821a0f0aeaa862", "draft-ietf-ipsec-nat-t-ike-01", "exact"),
    ("cd60464335df21f87cfdb2fc68b6a448", "draft-ietf-ipsec-nat-t-ike-02", "exact"),
    ("90cb80913ebb696e086381b5ec427b1f", "draft-ietf-ipsec-nat-t-ike-02\\n", "exact"),
    ("7d9419a65310ca6f2c179d9215529d56", "draft-ietf-ipsec-nat-t-ike-03", "exact"),
    ("9909b64eed937c6573de52ace952fa6b", "draft-ietf-ipsec-nat-t-ike-04", "exact"),
    ("80d0bb3def54565ee84645d4c85ce3ee", "draft-ietf-ipsec-nat-t-ike-05", "exact"),
    ("4d1e0e136deafa34c4f3ea9f02ec7285", "draft-ietf-ipsec-nat-t-ike-06", "exact"),
    ("439b59f8ba676c4c7737ae22eab8f582", "draft-ietf-ipsec-nat-t-ike-07", "exact"),
    ("8f8d83826d246b6fc7a8a6a428c11de8", "draft-ietf-ipsec-nat-t-ike-08", "exact"),
    ("42ea5b6f898d9773a575df26e7dd19e1", "draft-ietf-ipsec-nat-t-ike-09", "exact"),
    ("c40fee00d5d39ddb1fc762e09b7cfea7", "Testing NAT-T RFC", "exact"),
    ("27bab5dc01ea0760ea4e3190ac27c0d0", "draft-stenberg-ipsec-nat-traversal-01", "exact"),
    ("6105c422e76847e43f9684801292aecd", "draft-stenberg-ipsec-nat-traversal-02", "exact"),
    ("6a7434c19d7e36348090a02334c9c805", "draft-huttunen-ipsec-esp-in-udp-00.txt", "exact"),
    (
        "50760f624c63e5c53eea386c685ca083",
        "draft-huttunen-ipsec-esp-in-udp-01.txt (ESPThruNAT)",
        "exact",
    ),
    # --- protocol extensions
    ("afcad71368a1f1c96b8696fc7757", "RFC 3706 DPD (Dead Peer Detection)", "prefix"),
    ("09002689dfd6b712", "XAUTH", "prefix"),
    ("4048b7d56ebce88525e7de7f00d6c2d3", "IKE Fragmentation", "prefix"),
    ("325df29a2319f2dd", "draft-ietf-ipsec-antireplay-00.txt", "prefix"),
    ("8db7a41811221660", "draft-ietf-ipsec-heartbeats-00.txt", "prefix"),
    ("4865617274426561745f4e6f74696679", "Heartbeat Notify", "prefix"),
    ("2d7922c6b301d9b0e1342739e9cfbbd5", "DWR: Delete with reason", "exact"),
    ("621b04bb09882ac1e15935fefa24aeee", "GSSAPI", "exact"),
    ("b46d8914f3aaa3f2fedeb7c7db2943ca", "A GSS-API Authentication Method for IKE", "exact"),
    ("ad2c0dd0b9c32083ccba25b8861ec455", "A GSS-API Authentication Method for IKE", "exact"),
    # --- open-source implementations
    ("882fe56d6fd20dbc2251613b2ebe5beb", "strongSwan", "exact"),
    ("7003cbc1097dbe9c2600ba6983bc8b35", "KAME/racoon", "exact"),
    ("20a3622c1cea7ce37bee3ca484425276", "IPsec-Tools", "exact"),
    ("f14b94b7bff1fef02773b8c49feded26", "Shrew Soft", "exact"),
    ("4f70656e504750", "OpenPGP (FreeS/WAN, Openswan)", "prefix"),
    # --- Cisco
    ("12f5f28c457168a9702d9fe274cc", "Cisco Unity", "prefix"),
    ("1f07f70eaa6514d3b0fa96542a500100", "Cisco VPN Concentrator", "exact"),
    ("464c455856504e2d535550504f52544544", "Cisco FlexVPN Supported", "exact"),
    ("434953434f2d44454c4554452d524541534f4e", "CISCO-DELETE-REASON", "exact"),
    ("434953434f2d4752452d4d4f4445", "CISCO-GRE-MODE", "exact"),
    ("434953434f28434f5059524947485429", "Cisco Copyright", "prefix"),
    ("434953434f2d44594e414d49432d524f555445", "CISCO-DYNAMIC-ROUTE", "exact"),
    ("434953434f56504e2d5245562d3032", "CISCOVPN-REV-02", "exact"),
    # --- Microsoft (MS-IKEE)
    ("1e2b516905991c7d7c96fcbfb587e461", "Microsoft Windows (MS NT5 ISAKMPOAKLEY)", "prefix"),
    ("26244d38eddb61b3172a36e3d0cfb819", "Microsoft Vid-Initial-Contact", "exact"),
    ("fb1de3cdf341b7ea16b7e5be0855f120", "MS-Negotiation Discovery Capable", "exact"),
    ("e3a5966a76379fe707228231e5ce8652", "IKE CGA Version 1", "exact"),
    ("214ca4faffa7f32d6748e5303395ae83", "MS-MamieExists", "exact"),
    # --- Fortinet
    ("8299031757a36082c6a621de", "Fortinet FortiGate", "prefix"),
    ("4c53427b6d465d1b337bb755a37a7fef", "Fortinet FortiClient Connect license", "exact"),
    ("b4f01ca951e9da8d0bafbbd34ad3044e", "Fortinet Endpoint Control", "exact"),
    # --- other vendors
    ("f4ed19e0c114eb516faaac0ee37daf2807b4381f", "Check Point", "prefix"),
    ("031017e07f7a82e3aa6950c999990100", "CryptoPro/GOST 1.0 / Check Point R71", "exact"),
    ("031017e07f7a82e3aa6950c999990101", "CryptoPro/GOST 1.1", "exact"),
    ("404bf439522ca3f6", "SonicWall", "prefix"),
    ("625027749d5ab97f5616c1602765cf480a3b7d0b", "ZyXEL ZyWALL", "exact"),
    ("8404adf9cda05760b2ca292e4bff537b", "Sidewinder", "exact"),
    ("9aa1f3b43472a45d5f506aeb26c0f214", "CyberGuard", "exact"),
    ("ca3e2b854ba8030017dc1023a4fde2041f9f7463", "Aruba Networks Remote AP", "exact"),
    ("3c8e70bdf9c7d74add53e4100915dc2e4bb51274", "Aruba Networks Controller", "exact"),
    ("88f0e3149b3fa48b05aa7f685f0b766be186ccb8", "Aruba Networks VIA Client", "exact"),
    ("56494120417574682050726f66696c65203a20", "Aruba Networks VIA Auth Profile", "prefix"),
    # NetScreen (Juniper) hashes are followed by version/feature words
    ("299ee8289f40a8973bc78687e2e7226b532c3b76", "Juniper NetScreen", "prefix"),
    ("3a15e1f3cf2a63582e3ac82d1c64cbe3b6d779e7", "Juniper NetScreen", "prefix"),
    ("699369228741c6d4ca094c93e242c9de19e7b7c6", "Juniper NetScreen", "prefix"),
    ("054182a07c7ae206f9d2cf9d2432c482", "SSH Sentinel", "exact"),
    ("b91623e693ca18a54c6a2778552305e8", "SSH Sentinel 1.1", "exact"),
    ("5430888de01a31a6fa8f60224e449958", "SSH Sentinel 1.2", "exact"),
    ("7ee5cb85f71ce259c94a5c731ee4e752", "SSH Sentinel 1.3", "exact"),
    ("63d9a1a7009491b5a0a6fdeb2a8284f0", "SSH Sentinel 1.4", "exact"),
    ("eb4b0d96276b4e220ad16221a7b2a5e6", "SSH Sentinel 1.4.1", "exact"),
)

# Windows version carried in the 4 bytes after the MS NT5 ISAKMPOAKLEY hash (MS-IKEE 2.2.1).
MS_NT5_VERSIONS: tuple[tuple[int, str], ...] = (
    (2, "Windows 2000"),
    (3, "Windows XP SP1"),
    (4, "Windows Server 2003 / Windows XP SP2"),
    (5, "Windows Vista"),
    (6, "Windows Server 2008"),
    (7, "Windows 7 / Windows Server 2008 R2"),
    (8, "Windows 8 / Windows Server 2012"),
    (9, "Windows 8.1 / Windows Server 2012 R2 / Windows 10"),
    (10, "Windows 10 / Windows Server 2016 and later"),
)

# Libreswan and Openswan announce themselves with 12 printable bytes starting "OE"
# (a hash of the version string); matched by shape, not by one value.
_OE_PREFIX = b"OE"
_OE_LENGTH = 12

_MS_NT5 = bytes.fromhex("1e2b516905991c7d7c96fcbfb587e461")
_CISCO_UNITY = bytes.fromhex("12f5f28c457168a9702d9fe274cc")
_DPD = bytes.fromhex("afcad71368a1f1c96b8696fc7757")


@dataclass(frozen=True, slots=True)
class _Prefix:
    """A Vendor ID known by its leading bytes only (what follows them varies)."""

    value: bytes
    name: str


_EXACT: dict[bytes, str] = {
    bytes.fromhex(h): name for h, name, kind in VENDOR_IDS if kind == "exact"
}
# Longest prefix first, so a specific entry wins over a shorter one.
_PREFIXES: tuple[_Prefix, ...] = tuple(
    sorted(
        (_Prefix(bytes.fromhex(h), name) for h, name, kind in VENDOR_IDS if kind == "prefix"),
        key=lambda r: -len(r.value),
    )
)
_MS_VERSIONS = dict(MS_NT5_VERSIONS)


def _versioned(data: bytes, base: bytes, name: str) -> str:
    """Append the version that some vendors put after their fixed prefix."""
    tail = data[len(base) :]
    if base == _MS_NT5 and len(tail) == 4:
        version = int.from_bytes(tail, "big")
        return f"{name} {_MS_VERSIONS.get(version, f'version {version}')}"
    if base == _CISCO_UNITY and len(tail) == 2:
        return f"{name} {tail[0]}.{tail[1]}"
    if base == _DPD and len(tail) == 2:
        return f"{name} {tail[0]}.{tail[1]}"
    return name


def vendor_id_name(data: bytes, ext: DissectorTables = NO_DISSECTORS) -> str:
    """The name of a Vendor ID payload's value, or "" when neither the well-known table
    nor an extension (``ext``, consulted last) knows it."""
    name = _EXACT.get(data)
    if name is not None:
        return name
    for rule in _PREFIXES:
        if data.startswith(rule.value):
            return _versioned(data, rule.value, rule.name)
    if (
        len(data) == _OE_LENGTH
        and data.startswith(_OE_PREFIX)
        and all(0x20 <= b < 0x7F for b in data)
    ):
        return "Libreswan/Openswan"
    return ext.vendor_name(data)


def is_nat_t_draft(data: bytes) -> bool:
    """True for the pre-RFC NAT-T draft Vendor IDs whose peers use NAT-D payload 15/130."""
    name = _EXACT.get(data, "")
    return name.startswith("draft-ietf-ipsec-nat-t-ike")
