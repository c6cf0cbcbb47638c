"""Live capture tests: ``sniff`` in network namespaces of our own, fed by scapy replays."""
