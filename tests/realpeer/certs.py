"""Test certificates made with openssl (strongSwan's ``pki`` tool is not packaged on Debian).

Why RSA-2048: the two certificates plus a 256-byte AUTH make IKE_AUTH large enough that a small
``fragment_size`` splits it into several RFC 7383 fragments.
"""

from __future__ import annotations

from pathlib import Path

from .lab import run

DAYS = "3650"


def _key(path: Path) -> None:
    run(
        [
            "openssl",
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            str(path),
        ]
    )


def make_pki(directory: Path, identities: dict[str, str]) -> dict[str, Path]:
    """Create a CA and one end-entity certificate per side in ``directory``.

    ``identities`` maps a side name to its identity (used as subjectAltName DNS name, which
    strongSwan matches against the IKE identity). Returns the file paths by role:
    ``ca`` plus ``<side>.pem`` / ``<side>.key`` for every side.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    _key(ca_key)
    run(
        [
            "openssl",
            "req",
            "-x509",
            "-new",
            "-key",
            str(ca_key),
            "-out",
            str(ca_cert),
            "-days",
            DAYS,
            "-subj",
            "/O=ipsec-inspect samples/CN=realpeer test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]
    )
    paths = {"ca": ca_cert}
    for side, identity in identities.items():
        key, csr, cert = (
            directory / f"{side}.key",
            directory / f"{side}.csr",
            directory / f"{side}.pem",
        )
        ext = directory / f"{side}.ext"
        _key(key)
        run(
            [
                "openssl",
                "req",
                "-new",
                "-key",
                str(key),
                "-out",
                str(csr),
                "-subj",
                f"/O=ipsec-inspect samples/CN={identity}",
            ]
        )
        ext.write_text(f"subjectAltName=DNS:{identity}\nextendedKeyUsage=serverAuth\n")
        run(
            [
                "openssl",
                "x509",
                "-req",
                "-in",
                str(csr),
                "-CA",
                str(ca_cert),
                "-CAkey",
                str(ca_key),
                "-CAcreateserial",
                "-out",
                str(cert),
                "-days",
                DAYS,
                "-extfile",
                str(ext),
            ]
        )
        paths[f"{side}.pem"] = cert
        paths[f"{side}.key"] = key
    return paths
