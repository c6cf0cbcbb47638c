"""AH ICV verification (RFC 4302 §3.3.3), which Wireshark does not do.

Why the copying: the ICV covers the whole IP packet as the receiver will see it, so
every field a router may change on the way is zeroed first — IPv4 TOS, flags and
fragment offset, TTL, header checksum and the options RFC 4302 Appendix A1 calls mutable;
IPv6 traffic class, flow label, hop limit and the data of extension-header options whose
"may change en route" bit is set — and the AH Authentication Data field (ICV plus any
alignment padding) is zeroed too. With ESN the high 32 sequence bits are appended
(RFC 4302 §3.3.3.1). Routing-header address rotation (mutable but predictable) is not
modelled: such packets verify only when the header is already in its final state.
"""

from __future__ import annotations

import hmac as _stdlib_hmac

from ipsec_inspect.crypto.algorithms import CryptoError, check_integrity_key, compute_icv
from ipsec_inspect.crypto.keys import SaKey

# IPv4 option types that AH covers as they are (RFC 4302 Appendix A1); all others are zeroed.
_IMMUTABLE_V4_OPTIONS = frozenset({0, 1, 130, 133, 134, 148, 149})
_V6_OPTION_HEADERS = (0, 60)  # hop-by-hop, destination options
_V6_SKIPPED_HEADERS = (43, 44)  # routing, fragment: covered as they are


def _mute_ipv4(packet: bytearray, ah_offset: int) -> str | None:
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return "not an IPv4 header"
    ihl = (packet[0] & 15) * 4
    if ihl < 20 or ihl > ah_offset:
        return "IPv4 header length does not reach the AH header"
    packet[1] = 0  # TOS / DSCP+ECN
    packet[6:8] = b"\x00\x00"  # flags, fragment offset
    packet[8] = 0  # TTL
    packet[10:12] = b"\x00\x00"  # header checksum
    i = 20
    while i < ihl:
        kind = packet[i]
        if kind == 0:
            break  # end of option list: the rest is padding, covered as is
        if kind == 1:
            i += 1
            continue
        if i + 1 >= ihl or packet[i + 1] < 2 or i + packet[i + 1] > ihl:
            return f"malformed IPv4 option {kind} at offset {i}"
        length = packet[i + 1]
        if kind not in _IMMUTABLE_V4_OPTIONS:
            packet[i : i + length] = bytes(length)
        i += length
    return None


def _mute_ipv6(packet: bytearray, ah_offset: int) -> str | None:
    if len(packet) < 40 or packet[0] >> 4 != 6:
        return "not an IPv6 header"
    packet[0] = 0x60  # keep the version, zero the traffic class's high nibble
    packet[1:4] = b"\x00\x00\x00"  # rest of the traffic class and the flow label
    packet[7] = 0  # hop limit
    nh, i = packet[6], 40
    while i < ah_offset:
        if i + 2 > len(packet):
            return "truncated IPv6 extension header"
        length = (packet[i + 1] + 1) * 8
        if i + length > ah_offset:
            return "IPv6 extension headers do not end at the AH header"
        if nh in _V6_OPTION_HEADERS:
            j = i + 2
            while j < i + length:
                opt = packet[j]
                if opt == 0:  # Pad1
                    j += 1
                    continue
                if j + 1 >= i + length or j + 2 + packet[j + 1] > i + length:
                    return f"malformed IPv6 option {opt} at offset {j}"
                size = packet[j + 1]
                if opt & 0x20:
                    packet[j + 2 : j + 2 + size] = bytes(size)
                j += 2 + size
        elif nh not in _V6_SKIPPED_HEADERS:
            return f"unexpected IPv6 next header {nh} before AH"
        nh, i = packet[i], i + length
    return None


def verify_ah(key: SaKey, ip_packet: bytes, ah_offset: int, seq_high: int = 0) -> str:
    """Check the ICV of the AH header at ``ah_offset`` of ``ip_packet`` (the whole IP
    datagram, reassembled). Returns ``ok``, ``icv-failed`` or ``error: …``."""
    integ = key.integrity
    if integ is None or integ.kind == "none":
        return "error: the AH key has no integrity algorithm"
    if not integ.checks:
        return f"error: {integ.name} ICVs cannot be verified"
    if integ.kind == "gmac":
        return f"error: {integ.name} ICVs in AH are not supported"
    problem = check_integrity_key(integ, key.integrity_key)
    if problem:
        return f"error: {problem}"
    if ah_offset < 0 or ah_offset + 12 > len(ip_packet):
        return "error: AH header is truncated"
    field_len = (ip_packet[ah_offset + 1] + 2) * 4 - 12
    if field_len < integ.icv_len or ah_offset + 12 + field_len > len(ip_packet):
        return (
            f"error: AH authentication data of {field_len} bytes cannot hold the "
            f"{integ.icv_len}-byte {integ.name} ICV"
        )
    packet = bytearray(ip_packet)
    muted = _mute_ipv4(packet, ah_offset) if packet[0] >> 4 == 4 else _mute_ipv6(packet, ah_offset)
    if muted:
        return f"error: {muted}"
    start = ah_offset + 12
    icv = bytes(packet[start : start + integ.icv_len])
    packet[start : start + field_len] = bytes(field_len)
    if key.esn:
        packet += seq_high.to_bytes(4, "big")
    try:
        computed = compute_icv(integ, key.integrity_key, bytes(packet))
    except CryptoError as exc:
        return f"error: {exc}"
    return "ok" if _stdlib_hmac.compare_digest(computed, icv) else "icv-failed"
