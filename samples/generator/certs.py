"""A deterministic self-signed X.509 certificate for IKE_AUTH CERT payloads.

Why Ed25519: its signatures are deterministic, so the certificate (and the sample that
carries it) is identical on every run; a long subjectAltName list makes it big enough that
the IKE_AUTH message must be IP-fragmented, as real certificate chains are.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

NOT_BEFORE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER = datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)


def certificate(seed: bytes, common_name: str, alt_names: int = 60) -> bytes:
    """DER of a self-signed Ed25519 certificate for ``common_name``."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed[:32])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    sans = [x509.DNSName(f"host{i:03d}.{common_name}") for i in range(alt_names)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(seed[:8], "big") >> 1)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, None)
    )
    return cert.public_bytes(Encoding.DER)
