"""The facts of one SA the timeline shows above its stages (pure: no Textual imports).

Why a short list of lines: what a person asks first about a VPN client — who it is (IKE,
EAP and XAUTH identities), how it authenticated, which virtual IP and DNS it was given,
where it moved, and how and why its SA ended — fits in a few lines and needs no scrolling.
Secrets (the XAUTH password) are never shown here.
"""

from __future__ import annotations

from ipsec_inspect.lifecycle.model import ChildSa, IkeSa, Termination, child_state, ike_state


def _ending(t: Termination | None) -> str | None:
    if t is None:
        return None
    text = f"ended: {t.reason.value}"
    if t.frame is not None:
        text += f" at #{t.frame}"
    if t.certainty.value != "observed":
        text += f" ({t.certainty.value})"
    if t.trigger is not None and t.trigger.value != "unknown":
        text += f", trigger {t.trigger.value}"
        if t.trigger_certainty is not None:
            text += f" ({t.trigger_certainty.value})"
    if t.notify:
        text += f", {t.notify}"
    return text


def sa_facts(sa: IkeSa | ChildSa) -> list[str]:
    """A few lines: identities, authentication, configuration, moves and the ending."""
    if isinstance(sa, ChildSa):
        lines = [f"state {child_state(sa)}"]
        if sa.rekeyed_from:
            lines.append(f"replaces {sa.rekeyed_from}")
        if sa.rekeyed_to:
            lines.append(f"replaced by {sa.rekeyed_to}")
        ending = _ending(sa.termination)
        return lines + ([ending] if ending else [])
    lines = [f"state {ike_state(sa)}" + (f", auth {sa.auth_name}" if sa.auth_name else "")]
    ids = {
        k: v for k, v in sa.identities.items() if k in ("initiator", "responder", "eap", "xauth")
    }
    if ids:
        lines.append("identities: " + ", ".join(f"{k} {v}" for k, v in ids.items()))
    if sa.virtual_ips:
        lines.append("virtual IP " + ", ".join(sa.virtual_ips))
    if sa.configuration:
        lines.append(
            "config: " + "; ".join(f"{k} {', '.join(v)}" for k, v in sa.configuration.items())
        )
    for u in sa.address_updates:
        lines.append(
            f"moved at #{u.frame} ({u.cause.value}, {u.certainty.value}): "
            f"{u.initiator.addr}:{u.initiator.port} <-> {u.responder.addr}:{u.responder.port}"
        )
    if sa.rekeyed_from:
        lines.append(f"replaces {sa.rekeyed_from}")
    if sa.rekeyed_to:
        how = "reauthenticated as" if sa.reauthenticated else "rekeyed to"
        lines.append(f"{how} {sa.rekeyed_to}")
    ending = _ending(sa.termination)
    return lines + ([ending] if ending else [])
