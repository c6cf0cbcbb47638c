"""Diffie-Hellman key exchanges with fixed (seeded) private keys.

Why seeded private keys: the samples must be byte-identical on every run, yet the shared
secret must come from a real exchange so the analyser can re-derive every key from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import dh, ec, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# RFC 3526 group 14 (2048-bit MODP).
MODP_2048_P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF",
    16,
)


@dataclass
class KeyPair:
    """One side of an exchange: ``public`` is the KE payload data."""

    group: int
    public: bytes
    _private: object

    def shared(self, peer_public: bytes) -> bytes:
        """g^ir as IKE uses it (X25519: 32 bytes; ECP: x coordinate; MODP: padded)."""
        if self.group == 31:
            assert isinstance(self._private, x25519.X25519PrivateKey)
            peer = x25519.X25519PublicKey.from_public_bytes(peer_public)
            return self._private.exchange(peer)
        if self.group == 19:
            assert isinstance(self._private, ec.EllipticCurvePrivateKey)
            peer_ec = ec.EllipticCurvePublicKey.from_encoded_point(
                ec.SECP256R1(), b"\x04" + peer_public
            )
            return self._private.exchange(ec.ECDH(), peer_ec)
        assert isinstance(self._private, dh.DHPrivateKey)
        params = dh.DHParameterNumbers(MODP_2048_P, 2)
        y = int.from_bytes(peer_public, "big")
        peer_dh = dh.DHPublicNumbers(y, params).public_key()
        return self._private.exchange(peer_dh).rjust(256, b"\x00")


def keypair(group: int, seed_bytes: bytes) -> KeyPair:
    """A key pair for IKE group ``group`` (14, 19 or 31) from 32 seeded bytes."""
    if group == 31:
        priv = x25519.X25519PrivateKey.from_private_bytes(seed_bytes[:32])
        pub = priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return KeyPair(group, pub, priv)
    if group == 19:
        n = int.from_bytes(seed_bytes[:32], "big") % (2**256 - 2**224 - 1) + 1
        ec_priv = ec.derive_private_key(n, ec.SECP256R1())
        point = ec_priv.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return KeyPair(group, point[1:], ec_priv)
    if group == 14:
        x = int.from_bytes(seed_bytes[:32], "big") | (1 << 255)
        params = dh.DHParameterNumbers(MODP_2048_P, 2)
        y = pow(2, x, MODP_2048_P)
        dh_priv = dh.DHPrivateNumbers(x, dh.DHPublicNumbers(y, params)).private_key()
        return KeyPair(group, y.to_bytes(256, "big"), dh_priv)
    raise ValueError(f"unsupported group {group}")
