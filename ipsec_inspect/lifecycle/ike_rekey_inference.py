"""An IKEv2 IKE SA rekey seen without keys: inferred from the new SPIs that appear.

Why: an IKE SA rekey is a CREATE_CHILD_SA (RFC 7296 §2.18) whose SA payload, which says
"protocol IKE", is encrypted. Without keys the tracker first takes it for a child SA
exchange and opens a child SA that will never carry traffic; the new IKE SA then shows up
as an SA "first seen mid-life" with no IKE_SA_INIT. What is in clear is enough to tell:

- the new SPI pair's first message has message ID 0 or 1 (a rekeyed IKE SA restarts its
  message IDs, §2.18; an SA really seen mid-life has long left 0 behind);
- it runs between the same two peers as an established IKE SA;
- whose latest CREATE_CHILD_SA, shortly before, opened a child SA that has no SPIs and
  no traffic yet.

Then that exchange was the IKE SA rekey: the placeholder child SA is withdrawn (it was
never a child SA), the two IKE SAs are linked with ``certainty`` ``inferred`` and the live
child SAs move to the new IKE SA, as with keys.
"""

from __future__ import annotations

from ipsec_inspect.core.records import IkeMessage
from ipsec_inspect.lifecycle.events import SaClosed
from ipsec_inspect.lifecycle.model import Certainty, ChildSa, IkeSa, Reason, Stage
from ipsec_inspect.lifecycle.settle import REKEY_GRACE
from ipsec_inspect.lifecycle.state import TrackerState, peers_of

#: The rekeying CREATE_CHILD_SA precedes the new SA's first message by at most this long
#: (charon deletes the old SA right after the exchange, then uses the new one).
REKEY_WINDOW = 30.0
#: Message IDs a rekeyed IKE SA can show first (0; 1 when the capture missed one).
FIRST_MESSAGE_IDS = frozenset({0, 1})


def infer_ike_rekey(st: TrackerState, new: IkeSa, msg: IkeMessage) -> bool:
    """Link ``new`` (just opened mid-life by ``msg``) to the IKE SA it rekeyed; True if so."""
    if msg.version != 2 or msg.header.message_id not in FIRST_MESSAGE_IDS:
        return False
    peers = _peers(new)
    now = msg.meta.time
    found: list[tuple[float, IkeSa, ChildSa]] = []
    for old in _candidates(st, peers):
        if old is new or old.version != 2 or _peers(old) != peers:
            continue
        if old.state != "ESTABLISHED":
            continue
        placeholder = _placeholder(st, old, now)
        if placeholder is None:
            continue
        found.append((placeholder.stages[Stage.CIRCUIT].start or 0.0, old, placeholder))
    if not found:
        return False
    _started, old, placeholder = _latest(st, found)
    _withdraw(st, old, placeholder, msg)
    old.rekeyed_to, new.rekeyed_from = new.uid, old.uid
    old.rekey_certainty = new.rekey_certainty = Certainty.INFERRED
    new.state = "ESTABLISHED"
    new.transport = old.transport
    new.nat_detected = old.nat_detected
    new.chosen, new.chosen_ids = dict(old.chosen), dict(old.chosen_ids)
    new.certainty["chosen"] = Certainty.INFERRED
    new.auth_method, new.auth_name = old.auth_method, old.auth_name
    new.identities = dict(old.identities)
    circuit = placeholder.stages[Stage.CIRCUIT]
    if circuit.end is not None:  # the rekey response
        new.established_time, new.established_frame = circuit.end, circuit.end_frame
    m = msg.meta
    st.note(
        old,
        Stage.TRANSMISSION,
        m,
        "ike.rekeyed",
        f"IKE SA rekeyed (inferred): successor {new.uid}, whose first message ID is "
        f"{msg.header.message_id}, follows this SA's encrypted CREATE_CHILD_SA",
        Certainty.INFERRED,
    )
    kids = [st.child[u] for u in old.child_sas if u in st.child]
    for uid in [c.uid for c in kids if _alive(c) and not _superseded(c, kids)]:
        old.child_sas.remove(uid)
        new.child_sas.append(uid)
        st.child[uid].ike_sa = new.uid
        st.note(
            st.child[uid],
            Stage.TRANSMISSION,
            m,
            "child.inherited",
            f"now under the rekeyed IKE SA {new.uid} (inferred)",
            Certainty.INFERRED,
        )
    return True


def _candidates(st: TrackerState, peers: tuple[str, ...]) -> list[IkeSa]:
    """The IKE SAs between ``peers`` that may hold a rekey's placeholder: those a
    CREATE_CHILD_SA opened a child SA for (``TrackerState.ccsa_parents``).

    Why not every IKE SA: this runs for each IKE SA first seen with message ID 0 or 1 —
    every rekeyed IKE SA of a headend without keys —, and looking at all IKE SAs each time
    made a capture's cost grow with the square of its IKE SAs. An SA that can never again
    hold a placeholder (gone, already rekeyed) leaves the set for good; it comes
    back with its next CREATE_CHILD_SA.
    """
    parents = st.ccsa_parents.get(peers)
    if parents is None:
        return []
    out: list[IkeSa] = []
    gone: list[str] = []
    for uid in parents:
        sa = st.ike.get(uid)
        if sa is None or sa.rekeyed_to:
            gone.append(uid)
        elif sa.hard_end is None:  # an ending can be taken back (continue_auth_rounds)
            out.append(sa)
    for uid in gone:
        del parents[uid]
    if not parents:
        del st.ccsa_parents[peers]
    return out


def _latest(
    st: TrackerState, found: list[tuple[float, IkeSa, ChildSa]]
) -> tuple[float, IkeSa, ChildSa]:
    """The candidate whose placeholder started last; on a tie the IKE SA opened first, as a
    walk of every IKE SA in order would pick it."""
    top = max(f[0] for f in found)
    tied = [f for f in found if f[0] == top]
    if len(tied) == 1:
        return tied[0]
    order = {uid: n for n, uid in enumerate(st.ike)}
    return min(tied, key=lambda f: order.get(f[1].uid, len(order)))


_peers = peers_of


def _alive(c: ChildSa | None) -> bool:
    return c is not None and c.hard_end is None and not c.rekeyed_to


def _superseded(c: ChildSa, kids: list[ChildSa]) -> bool:
    """``c`` fell silent once a younger sibling carried traffic: its (encrypted) rekey,
    which :func:`settle.infer_rekeys` links later; it stays with the old IKE SA."""
    act = c.last_activity
    created = c.stages[Stage.CIRCUIT].start
    if act is None or created is None:
        return False
    for d in kids:
        d_created = d.stages[Stage.CIRCUIT].start
        firsts = [x.first_time for x in d.directions if x.first_time is not None]
        if d is c or d_created is None or d_created <= created or not firsts:
            continue
        if act[0] <= min(firsts) + REKEY_GRACE:
            return True
    return False


def _placeholder(st: TrackerState, old: IkeSa, now: float) -> ChildSa | None:
    """``old``'s latest child SA if it is an encrypted CREATE_CHILD_SA's, answered, recent,
    and without SPIs or traffic: what an IKE SA rekey leaves behind without keys."""
    for uid in reversed(old.child_sas):
        c = st.child.get(uid)
        if c is None:
            continue
        if c.created_by != "CREATE_CHILD_SA" or c.directions or c.rekeyed_from:
            return None
        if c.certainty.get("chosen") != Certainty.ENCRYPTED or not c.answered:
            return None
        started = c.stages[Stage.CIRCUIT].start
        if started is None or not 0.0 <= now - started <= REKEY_WINDOW:
            return None
        return c
    return None


def _withdraw(st: TrackerState, old: IkeSa, c: ChildSa, msg: IkeMessage) -> None:
    """Forget the placeholder child SA everywhere the tracker indexed it."""
    old.child_sas.remove(c.uid)
    st.child.pop(c.uid, None)
    # Its entries in ``awaiting_by_peers`` lists go stale: a list is read only for uids
    # still in ``awaiting`` (attribution), which drops them the first time it meets them.
    st.awaiting.pop(c.uid, None)
    # Only the exchange that created it names it (a CREATE_CHILD_SA's child SA).
    ex = st.exchanges.get((old.uid, *c.creating_exchange)) if c.creating_exchange else None
    if ex is not None and ex.child == c.uid:
        ex.child = None
    m = msg.meta
    # consumers of the event stream saw it opened: tell them it is gone, and why
    st.out.append(SaClosed(c.uid, Reason.REKEYED, m.time, m.frame, "withdrawn: an IKE SA rekey"))
