"""The Debian packages the tests load, and the charon plugins the real-peer harness needs.

Why a script of its own: ``.ci/run`` must work on a fresh Debian machine, where checking
one file's presence missed whole packages (charon's ``gcm`` and ``openssl`` plugins come
from ``libstrongswan-standard-plugins``, which nothing pulled in). Every package is
checked by name (``dpkg -s``), and every plugin the harness names in its ``load`` list is
mapped to the package that ships it, so adding a plugin there adds its package here.

It runs before the project is installed, so it uses the standard library only and reads
the harness's plugin list from the source (``ast``), never by importing it.

Usage: ``debian_packages.py packages`` prints every package needed, one a line;
``debian_packages.py plugins`` prints ``plugin<TAB>package<TAB>path`` per plugin.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_DIR = Path("/usr/lib/ipsec/plugins")

#: Package -> why a test needs it (the command or library it loads).
PACKAGES: dict[str, str] = {
    "tshark": "differential oracle (pyshark drives tshark)",
    "wireshark-common": "capinfos, editcap (capture checks)",
    "tcpdump": "real-peer and live tests record with tcpdump",
    "tmux": "TUI test reads the screen through tmux",
    "openssl": "real-peer certificates",
    "iproute2": "ip netns / veth for network tests",
    "iputils-ping": "traffic through the real-peer tunnel",
    "nftables": "live tests drop and count packets with nft",
    "procps": "sysctl in the test namespaces",
    "util-linux": "unshare, setpriv",
    "strongswan-charon": "the real peer (charon daemon)",
    "strongswan-swanctl": "swanctl and the vici plugin",
    "strongswan-libcharon": "charon's socket-default plugin",
    "libstrongswan": "charon's core crypto plugins",
    "libstrongswan-standard-plugins": "charon's gcm and openssl plugins",
    "libstrongswan-extra-plugins": "charon's chapoly and curve25519 plugins",
    "libcharon-extra-plugins": "charon's kernel-libipsec plugin",
    "libcharon-extauth-plugins": "charon's eap-mschapv2 / xauth-generic plugins",
}

#: Packages needed only when a test mentions them (e.g. the HTML report's browser test).
PACKAGES_IF_MENTIONED: dict[str, str] = {
    "chromium": "headless browser test of the HTML report",
}

#: Every charon plugin of Debian 12 (bookworm) and the package that ships it
#: (``dpkg -S /usr/lib/ipsec/plugins/libstrongswan-NAME.so``).
_PLUGIN_PACKAGES: dict[str, str] = {
    "libstrongswan": "aes attr constraints dnskey drbg fips-prf gmp hmac kdf kernel-netlink md5 "
    "mgf1 nonce pem pgp pkcs1 pkcs12 pkcs7 pkcs8 pubkey random rc2 resolve revocation sha1 "
    "sha2 sshkey x509 xcbc",
    "libstrongswan-standard-plugins": "aesni agent connmark gcm openssl",
    "libstrongswan-extra-plugins": "af-alg ccm chapoly cmac ctr curl curve25519 gcrypt ldap "
    "pkcs11 rdrand test-vectors tpm",
    "libcharon-extra-plugins": "addrblock certexpire dhcp eap-aka eap-gtc eap-identity eap-md5 "
    "eap-radius eap-tls eap-tnc eap-ttls error-notify farp forecast ha kernel-libipsec led "
    "lookip tnc-tnccs unity xauth-eap xauth-pam",
    "libcharon-extauth-plugins": "eap-mschapv2 xauth-generic",
    "strongswan-libcharon": "bypass-lan counters socket-default updown",
    "strongswan-swanctl": "vici",
}
PLUGIN_PACKAGE: dict[str, str] = {
    plugin: package for package, names in _PLUGIN_PACKAGES.items() for plugin in names.split()
}


def harness_plugins(config: Path = ROOT / "tests" / "realpeer" / "config.py") -> list[str]:
    """The plugin names of the harness's ``load =`` line (its ``PLUGINS`` constant)."""
    tree = ast.parse(config.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PLUGINS" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            return str(value).split()
    raise SystemExit(f"{config}: no PLUGINS constant (the charon load list)")


def _mentioned(word: str) -> bool:
    for path in (ROOT / "tests").rglob("*.py"):
        if word in path.read_text(encoding="utf-8", errors="replace"):
            return True
    return False


def packages() -> list[str]:
    needed = list(PACKAGES)
    for plugin in harness_plugins():
        package = PLUGIN_PACKAGE.get(plugin)
        if package is None:
            raise SystemExit(
                f"charon plugin {plugin!r} (tests/realpeer/config.py) is not in the table of "
                ".ci/debian_packages.py; add it with its package (dpkg -S libstrongswan-"
                f"{plugin}.so)"
            )
        if package not in needed:
            needed.append(package)
    needed += [p for p in PACKAGES_IF_MENTIONED if _mentioned(p)]
    return needed


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else "packages"
    if what == "packages":
        print("\n".join(packages()))
    elif what == "plugins":
        for plugin in harness_plugins():
            package = PLUGIN_PACKAGE.get(plugin, "?")
            print(f"{plugin}\t{package}\t{PLUGIN_DIR / f'libstrongswan-{plugin}.so'}")
    else:
        print(f"usage: {argv[0]} packages|plugins", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
