"""Liveness checks: IKEv1 Dead Peer Detection (RFC 3706) as events of the transmission stage.

Why its own reader: IKEv1 DPD is an Informational exchange with N(R-U-THERE) and
N(R-U-THERE-ACK) carrying a sequence number, and the answer comes in a separate
Informational (IKEv1 has no request/response pairing), so the pair is matched here by that
number. IKEv2's liveness check (an empty INFORMATIONAL, RFC 7296 §1.4) is named by
:mod:`classify` already.
"""

from __future__ import annotations

from ipsec_inspect.core.records import IkeMessage, NotifyBody
from ipsec_inspect.lifecycle.model import IkeSa, Stage
from ipsec_inspect.lifecycle.state import TrackerState

N_R_U_THERE, N_R_U_THERE_ACK = 36136, 36137


def read_dpd(st: TrackerState, sa: IkeSa, msg: IkeMessage) -> None:
    """Note an IKEv1 R-U-THERE or R-U-THERE-ACK (decrypted) with its sequence number."""
    if msg.version != 1:
        return
    m = msg.meta
    for p in msg.decrypted or []:
        body = p.body
        if not isinstance(body, NotifyBody) or body.notify_type not in (
            N_R_U_THERE,
            N_R_U_THERE_ACK,
        ):
            continue
        seq = int.from_bytes(body.data[:4], "big") if len(body.data) >= 4 else None
        number = f" #{seq}" if seq is not None else ""
        if body.notify_type == N_R_U_THERE:
            st.note(sa, Stage.TRANSMISSION, m, "ike.dpd.request",
                    f"DPD R-U-THERE{number} from {m.src} (RFC 3706)")  # fmt: skip
        else:
            st.note(sa, Stage.TRANSMISSION, m, "ike.dpd.ack",
                    f"DPD R-U-THERE-ACK{number} from {m.src}: the peer is alive")  # fmt: skip
