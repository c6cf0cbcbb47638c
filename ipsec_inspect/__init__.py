"""ipsec-inspect: a packet-level IPsec analyser that answers SA-level questions."""

__version__ = "0.1.0"
