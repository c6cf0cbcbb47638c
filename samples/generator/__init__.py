"""The project's own sample generator.

Why it exists: the samples in ``samples/`` must be reproducible byte for byte and must carry
real cryptography, so the analyser can be tested end to end against keys we know. This package
is deliberately independent of ``ipsec_inspect``: it crafts packets with scapy and does the IKE
key exchange and key derivation with ``cryptography`` directly, so a bug in the analyser's
crypto cannot hide behind the same bug in the generator.

Run ``python -m samples.generator`` from the project root to regenerate every sample.
"""
