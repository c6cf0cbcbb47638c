"""Real IPsec peers: two strongSwan daemons in network namespaces, captures with ground truth.

Why: a dissector tested only on captures we crafted agrees with our own misunderstandings; real
implementations are the referee. This package drives two charon daemons (kernel-libipsec, ESP in
UDP 4500) between two network namespaces, captures the wire, and writes ground truth (keys from the
daemons' debug logs, SA counters from ``swanctl --list-sas``) next to each capture.

Regenerate every sample from the project root with ``python -m tests.realpeer``.
"""
