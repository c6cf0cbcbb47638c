"""The project's ESP, AH and IKE dissectors as the table the wire decoder is given.

Why here: ``wire/`` is below ``ipsec/`` and must not import the dissectors; the pipeline
builds its decoder with this table (``ipsec_decoder``), and a caller that wants other
dissectors (a test, a plugin) hands the decoder its own ``IpsecDissectors``.
"""

from __future__ import annotations

from ipsec_inspect.ipsec.ah import dissect_ah
from ipsec_inspect.ipsec.esp import dissect_esp
from ipsec_inspect.ipsec.ike import dissect_ike, looks_like_ike
from ipsec_inspect.wire.context import IpsecDissectors
from ipsec_inspect.wire.decoder import DecodeOptions, Decoder

IPSEC_DISSECTORS = IpsecDissectors(
    esp=dissect_esp, ah=dissect_ah, ike=dissect_ike, looks_like_ike=looks_like_ike
)


def ipsec_decoder(options: DecodeOptions | None = None) -> Decoder:
    """A wire decoder that hands ESP, AH and IKE to this package's dissectors."""
    return Decoder(IPSEC_DISSECTORS, options)
