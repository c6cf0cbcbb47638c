"""Vendor decoder: NCP engineering's IPsec clients (NCP Secure Entry / Exclusive Remote Access).

Why: the Wireshark wiki capture ``../shared/captures/wireshark-wiki/ikev2_esp_aes-gcm_aes-ctr_aes-cbc``
was recorded with an NCP client (its identity is ``Client1@demo.ncp-e.com``) and its
IKE_SA_INIT carries Vendor IDs no public table names, so every tool shows them as unknown.
This plugin names them, as rows:

- ``101fb0b35c5a4f4c08b919f1cb9777b0`` — the NCP client Vendor ID (libreswan's table).
- ``c61baca1f1a60cc10800000000000000`` — listed by libreswan as "also seen from ncp client";
  sent by the NCP client in the capture above.
- prefix ``eb4c1b788afd4a9cb7730a68`` — libreswan lists ``eb4c1b788afd4a9cb7730a68d56d088b``
  as seen from NCP clients; the capture's client sends ``…d56c5321``: the first 12 bytes are
  the vendor's, the rest varies by release, so it is named as a prefix.

It also shows the decoder rows a vendor plugin may add (a notify type with a data decoder);
NCP publishes no private notify types, so none is registered here.
"""

from __future__ import annotations

from ipsec_inspect.plugins.api import PluginContext

NAME = "ncp_decoder"
VERSION = "1.0"
DESCRIPTION = "names the Vendor IDs of NCP Secure Entry / Exclusive Remote Access clients"

VENDOR_IDS: tuple[tuple[str, str, str], ...] = (
    ("101fb0b35c5a4f4c08b919f1cb9777b0", "NCP client", "exact"),
    ("c61baca1f1a60cc10800000000000000", "NCP client (capabilities)", "exact"),
    ("eb4c1b788afd4a9cb7730a68", "NCP client (release)", "prefix"),
)


def register(ctx: PluginContext) -> None:
    for value, name, match in VENDOR_IDS:
        ctx.add_vendor_id(value, name, match)
