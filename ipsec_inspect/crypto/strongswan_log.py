"""Keys from a strongSwan charon debug log (filelog with ``ike = 4``, ``chd = 4``, ``mgr = 2``).

Why a parser of logs: at level 4 charon prints every IKE and CHILD_SA secret, but never next to
the SPIs they belong to. The SPIs, the algorithms and the direction of the exchange come from
other lines of the *same worker thread*, because each thread handles one message at a time:

- an IKE key block belongs to the IKE SA of the next ``checkin IKEvN SA … with SPIs X_i Y_r``
  line of its thread with a non-zero ``Y`` (IKE SA rekeys log the new SA's keys under the old SA's
  prefix; the checkin line still names the new SPIs);
- a child key block belongs to the next ``CHILD_SA … established with SPIs A_i B_o`` line of its
  thread. "initiator" in the labels means the initiator of the exchange that created the CHILD_SA:
  if the thread last parsed a *response*, this peer initiated and the initiator keys protect its
  outbound SPI ``B``; if it parsed a *request*, they protect the inbound SPI ``A``;
- algorithms come from the last ``selected proposal:`` line logged for the same IKE SA (the
  number after ``|`` in ``<name|N>``); IKEv1 selects the Quick Mode proposal and derives the keys
  in different threads, so proposals are tracked per IKE SA, not per thread.

The line format is ``DATE TIME THREAD[SUBSYS] <name|uid> message`` (``ike_name = yes``); a binary
value is ``LABEL => N bytes @ 0xADDR`` followed by hex-dump lines of 16 bytes each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(
    r"^(?P<time>\S+ \S+) (?P<thread>\d+)\[(?P<subsys>[A-Z]+)\] (?:<(?P<prefix>[^>]*)> )?(?P<msg>.*)$"
)
_HEADER = re.compile(r"^(?P<label>.+?) => (?P<size>\d+) bytes @ (?:0x)?[0-9a-fA-F]+$")
_DUMP = re.compile(r"^\s*(?P<offset>\d+): (?P<rest>.*)$")
_CHECKIN = re.compile(
    r"^checkin IKEv(?P<version>[12]) SA .*?\[(?P<uid>\d+)\] with SPIs "
    r"(?P<spi_i>[0-9a-f]{16})_i (?P<spi_r>[0-9a-f]{16})_r"
)
_DESTROY = re.compile(r"^checkin and destroy IKE_SA .*?\[(?P<uid>\d+)\]$")
_ESTABLISHED = re.compile(
    r"CHILD_SA (?P<name>\S+?)\{(?P<id>\d+)\} established with SPIs "
    r"(?P<spi_in>[0-9a-f]{8})_i (?P<spi_out>[0-9a-f]{8})_o"
)
_SPI_ADDR = re.compile(r"^\s*SPI 0x(?P<spi>[0-9a-f]{8}), src (?P<src>\S+) dst (?P<dst>\S+)$")
_PARSED = re.compile(r"^parsed (?P<exchange>\S+) (?P<kind>request|response) \d+ ")
_SELECTED = re.compile(r"^selected proposal: (?P<proto>IKE|ESP|AH):(?P<algs>\S+)$")
# lifecycle lines: why a CHILD_SA or IKE_SA was rekeyed or closed
_KNL_JOB = re.compile(
    r"^creating (?P<job>rekey|delete) job for CHILD_SA (?P<proto>ESP|AH)/0x(?P<spi>[0-9a-f]{8})/"
)
_EXPIRED = re.compile(
    r"^closing expired CHILD_SA (?P<name>\S+?)\{\d+\} with SPIs (?P<a>[0-9a-f]{8})_i (?P<b>[0-9a-f]{8})_o"
)
_COMMAND = re.compile(r"^vici (?P<cmd>rekey|terminate) (?P<what>CHILD_SA|IKE_SA) '(?P<name>[^']*)'")
_CLOSING = re.compile(
    r"^closing CHILD_SA (?P<name>\S+?)\{\d+\} with SPIs (?P<a>[0-9a-f]{8})_i (?:\(\d+ bytes\) )?"
    r"(?P<b>[0-9a-f]{8})_o"
)
# an IKE SA rekey or reauthentication starting; without a vici command before it, it is the
# daemon's own job, and charon's IKE SAs have lifetimes in seconds only (rekey/reauth_time)
_IKE_TASK = re.compile(r"^queueing IKE_(?P<task>REKEY|REAUTH) task$")
_IKE_ACTION = re.compile(
    r"^(?:sending DELETE for|reauthenticating) IKE_SA (?P<name>\S+?)\[(?P<uid>\d+)\]"
)

# label in the log -> name in IkeSaSecrets.secrets (RFC 7296 / RFC 2409 names, lower case)
IKE_LABELS: dict[str, str] = {
    "SKEYSEED": "skeyseed",
    "Sk_d secret": "sk_d",
    "Sk_ai secret": "sk_ai",
    "Sk_ar secret": "sk_ar",
    "Sk_ei secret": "sk_ei",
    "Sk_er secret": "sk_er",
    "Sk_pi secret": "sk_pi",
    "Sk_pr secret": "sk_pr",
    "SKEYID": "skeyid",
    "SKEYID_d": "skeyid_d",
    "SKEYID_a": "skeyid_a",
    "SKEYID_e": "skeyid_e",
    "encryption key Ka": "enc_key",
    "initial IV": "initial_iv",
}
DH_LABEL = "shared Diffie Hellman secret"
# The PFS shared secret of a CREATE_CHILD_SA / Quick Mode, logged by the CHD subsystem
# just before the child keys it feeds (charon 5.9: "DH secret => 32 bytes").
CHILD_DH_LABEL = "DH secret"
CHILD_LABELS: dict[str, str] = {
    "encryption initiator key": "encr_i",
    "encryption responder key": "encr_r",
    "integrity initiator key": "integ_i",
    "integrity responder key": "integ_r",
}
_DH_PREFIXES = ("MODP_", "ECP_", "CURVE_", "NTRU_", "NEWHOPE_")
_INTEG_PREFIXES = ("HMAC_", "AES_XCBC", "AES_CMAC", "CAMELLIA_XCBC")


@dataclass(frozen=True, slots=True)
class Proposal:
    """A ``selected proposal:`` line split into its transforms (strongSwan's names)."""

    protocol: str  # IKE, ESP or AH
    encryption: str  # e.g. AES_GCM_16_256, AES_CBC_128, CHACHA20_POLY1305_256
    integrity: str = ""  # e.g. HMAC_SHA2_256_128; "" for AEAD
    prf: str = ""  # e.g. PRF_HMAC_SHA2_256 (IKE only)
    dh_group: str = ""  # e.g. CURVE_25519, MODP_2048 (IKE, or ESP with PFS)
    esn: bool = False

    @classmethod
    def parse(cls, protocol: str, text: str) -> Proposal:
        tokens = text.split("/")
        encryption = "" if protocol == "AH" else tokens[0]
        integrity = prf = dh = ""
        esn = False
        for token in tokens[0 if protocol == "AH" else 1 :]:
            if token.startswith("PRF_"):
                prf = token
            elif token.startswith(_DH_PREFIXES):
                dh = token
            elif token in ("EXT_SEQ", "NO_EXT_SEQ"):
                esn = token == "EXT_SEQ"
            elif token.startswith(_INTEG_PREFIXES) or not integrity:
                integrity = token
        return cls(protocol, encryption, integrity, prf, dh, esn)


@dataclass(slots=True)
class IkeSaSecrets:
    """The secrets of one IKE SA (IKEv2) or ISAKMP SA (IKEv1), tied to its SPIs / cookies."""

    version: int
    spi_i: bytes
    spi_r: bytes
    encryption: str
    integrity: str
    prf: str
    dh_group: str
    secrets: dict[str, bytes]  # keys as in IKE_LABELS' values, plus "dh_secret"
    log_line: int  # 1-based line of the first key of the block, for people reading the log


@dataclass(slots=True)
class ChildSaDirection:
    """One direction (one SPI) of a CHILD_SA with its keys."""

    spi: int
    src: str
    dst: str
    encryption: str
    encryption_key: bytes  # AEAD keys include the salt (RFC 4106 / RFC 7634)
    integrity: str
    integrity_key: bytes


@dataclass(slots=True)
class ChildSaSecrets:
    """A CHILD_SA (IKEv2) or Quick Mode SA pair (IKEv1) as the logging peer installed it."""

    protocol: str  # ESP or AH
    name: str  # e.g. "net{2}"
    spi_in: int
    spi_out: int
    inbound: ChildSaDirection
    outbound: ChildSaDirection
    initiated: bool  # this peer initiated the exchange that created the SA
    esn: bool
    dh_group: str  # PFS group, "" without PFS
    dh_secret: bytes  # PFS shared secret, b"" without PFS
    ike_spi_i: bytes  # the IKE SA that created it
    ike_spi_r: bytes
    log_line: int


@dataclass(frozen=True, slots=True)
class DaemonHint:
    """Why the daemon rekeyed or closed an SA, as its log says (not on the wire).

    ``kind``: ``limit`` (a soft lifetime, time or volume: "creating rekey job"; for an IKE
    SA "queueing IKE_REKEY task" with no vici command before it: time), ``expired``
    (a hard lifetime: "creating delete job", "closing expired CHILD_SA") or ``user`` (a vici
    rekey/terminate command before the SA was closed). ``spi`` names a CHILD_SA direction;
    ``ike_spis`` an IKE SA (initiator's and responder's SPIs)."""

    kind: str
    spi: int | None
    ike_spis: tuple[bytes, bytes] | None
    line: int


@dataclass(slots=True)
class CharonKeys:
    ike_sas: list[IkeSaSecrets] = field(default_factory=list)
    child_sas: list[ChildSaSecrets] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # blocks that could not be tied to SPIs
    hints: list[DaemonHint] = field(default_factory=list)  # lifecycle lines, in log order


@dataclass(slots=True)
class _Dump:
    label: str
    size: int
    data: bytearray


@dataclass(slots=True)
class _Block:
    """Secrets gathered by one thread, waiting for the line that names their SA."""

    uid: int
    line: int
    values: dict[str, bytes] = field(default_factory=dict)
    addresses: dict[int, tuple[str, str]] = field(default_factory=dict)


@dataclass
class _State:
    keys: CharonKeys = field(default_factory=CharonKeys)
    dumps: dict[int, _Dump] = field(default_factory=dict)  # thread -> hex dump in progress
    dh: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # thread -> (line, DH secret)
    ike: dict[int, _Block] = field(default_factory=dict)  # thread -> IKE key block
    child: dict[int, _Block] = field(default_factory=dict)  # thread -> child key block
    direction: dict[int, str] = field(
        default_factory=dict
    )  # thread -> last parsed request/response
    ike_proposal: dict[int, Proposal] = field(default_factory=dict)  # IKE SA uid -> proposal
    child_proposal: dict[int, Proposal] = field(default_factory=dict)
    spis: dict[int, tuple[int, bytes, bytes]] = field(default_factory=dict)  # uid -> version, SPIs
    child_uids: list[int] = field(default_factory=list)  # parallel to keys.child_sas
    commands: dict[tuple[str, str], str] = field(default_factory=dict)  # (what, name) -> cmd


def _uid(prefix: str | None) -> int:
    """The IKE SA unique id from ``name|uid`` or ``uid``; 0 when the line has no prefix."""
    if not prefix:
        return 0
    tail = prefix.rpartition("|")[2]
    return int(tail) if tail.isdigit() else 0


def _dump_bytes(rest: str, wanted: int) -> bytes:
    """Bytes of one hex-dump line: up to 16 two-digit tokens before the ASCII column."""
    tokens = rest[:48].split()
    out = bytearray()
    for token in tokens[: min(16, wanted)]:
        if len(token) != 2:
            break
        try:
            out.append(int(token, 16))
        except ValueError:
            break
    return bytes(out)


def parse_charon_log(text: str) -> CharonKeys:
    """Every IKE SA and CHILD_SA key the log reveals, tied to its SPIs."""
    state = _State()
    for number, raw in enumerate(text.splitlines(), start=1):
        match = _LINE.match(raw)
        if match is None:
            continue
        thread = int(match["thread"])
        message = match["msg"]
        dump = state.dumps.get(thread)
        if dump is not None:
            line = _DUMP.match(message)
            if line is not None and len(dump.data) < dump.size:
                dump.data += _dump_bytes(line["rest"], dump.size - len(dump.data))
                if len(dump.data) >= dump.size:
                    _store(state, thread, _uid(match["prefix"]), dump, number)
                    del state.dumps[thread]
                continue
            del state.dumps[thread]  # a truncated dump: drop it
        _line(state, thread, _uid(match["prefix"]), message, number)
    _resolve_children(state)
    return state.keys


def _line(state: _State, thread: int, uid: int, message: str, number: int) -> None:
    header = _HEADER.match(message)
    if header is not None:
        label = header["label"]
        if label in (DH_LABEL, CHILD_DH_LABEL) or label in IKE_LABELS or label in CHILD_LABELS:
            dump = _Dump(label, int(header["size"]), bytearray())
            if dump.size == 0:
                _store(state, thread, uid, dump, number)
            else:
                state.dumps[thread] = dump
        return
    if (parsed := _PARSED.match(message)) is not None:
        state.direction[thread] = parsed["kind"]
    elif (selected := _SELECTED.match(message)) is not None:
        proposal = Proposal.parse(selected["proto"], selected["algs"])
        target = state.ike_proposal if proposal.protocol == "IKE" else state.child_proposal
        target[uid] = proposal
    elif (spi := _SPI_ADDR.match(message)) is not None:
        block = state.child.get(thread)
        if block is not None:
            block.addresses[int(spi["spi"], 16)] = (spi["src"], spi["dst"])
    elif (checkin := _CHECKIN.match(message)) is not None:
        spi_r = bytes.fromhex(checkin["spi_r"])
        if spi_r != bytes(8):
            sa = (int(checkin["version"]), bytes.fromhex(checkin["spi_i"]), spi_r)
            state.spis[int(checkin["uid"])] = sa
            _checkin(state, thread, uid, sa)
    elif (destroy := _DESTROY.match(message)) is not None:
        # an SA destroyed right after its keys were made (AUTHENTICATION_FAILED on the responder)
        # is never checked in with SPIs; its IKE_SA_INIT checkin named them
        known = state.spis.get(int(destroy["uid"]))
        if known is not None:
            _checkin(state, thread, uid, known)
    elif (established := _ESTABLISHED.search(message)) is not None:
        _established(state, thread, uid, established, number)
    else:
        _lifecycle(state, message, number, uid)


def _lifecycle(state: _State, message: str, number: int, uid: int = 0) -> None:
    """Lines that say why an SA was rekeyed or closed (see :class:`DaemonHint`)."""
    hints = state.keys.hints
    if (job := _KNL_JOB.match(message)) is not None:
        kind = "limit" if job["job"] == "rekey" else "expired"
        hints.append(DaemonHint(kind, int(job["spi"], 16), None, number))
    elif (expired := _EXPIRED.match(message)) is not None:
        for spi in (expired["a"], expired["b"]):
            hints.append(DaemonHint("expired", int(spi, 16), None, number))
    elif (command := _COMMAND.match(message)) is not None:
        state.commands[(command["what"], command["name"])] = command["cmd"]
    elif (closing := _CLOSING.match(message)) is not None:
        if state.commands.pop(("CHILD_SA", closing["name"]), None) is not None:
            for spi in (closing["a"], closing["b"]):
                hints.append(DaemonHint("user", int(spi, 16), None, number))
    elif _IKE_TASK.match(message) is not None:
        known = state.spis.get(uid)
        user = any(what == "IKE_SA" for what, _name in state.commands)
        if known is not None and not user:
            hints.append(DaemonHint("limit", None, (known[1], known[2]), number))
    elif (action := _IKE_ACTION.match(message)) is not None:
        known = state.spis.get(int(action["uid"]))
        command_given = state.commands.pop(("IKE_SA", action["name"]), "")
        if known is not None and command_given:
            hints.append(DaemonHint("user", None, (known[1], known[2]), number))


def _store(state: _State, thread: int, uid: int, dump: _Dump, number: int) -> None:
    """File a completed hex dump under the thread's pending IKE or child block."""
    value = bytes(dump.data)
    start = number - (dump.size + 15) // 16  # the header line
    if dump.label in (DH_LABEL, CHILD_DH_LABEL):
        state.dh[thread] = (start, value)
        return
    if dump.label in IKE_LABELS:
        block = state.ike.get(thread)
        if block is None:
            block = state.ike[thread] = _Block(uid, start)
            if thread in state.dh:
                block.line, block.values["dh_secret"] = state.dh.pop(thread)
        block.values[IKE_LABELS[dump.label]] = value
        return
    block = state.child.get(thread)
    if block is None:
        block = state.child[thread] = _Block(uid, start)
        if thread in state.dh:
            block.values["dh_secret"] = state.dh.pop(thread)[1]
    block.values[CHILD_LABELS[dump.label]] = value


def _checkin(state: _State, thread: int, uid: int, sa: tuple[int, bytes, bytes]) -> None:
    """Tie the thread's pending IKE key block (if any) to the SA ``(version, spi_i, spi_r)``."""
    version, spi_i, spi_r = sa
    block = state.ike.pop(thread, None)
    if block is None:
        return
    proposal = state.ike_proposal.get(block.uid) or state.ike_proposal.get(uid)
    if proposal is None:
        state.keys.warnings.append(f"line {block.line}: IKE keys without a selected proposal")
        proposal = Proposal("IKE", "")
    state.keys.ike_sas.append(
        IkeSaSecrets(
            version=version,
            spi_i=spi_i,
            spi_r=spi_r,
            encryption=proposal.encryption,
            integrity=proposal.integrity,
            prf=proposal.prf,
            dh_group=proposal.dh_group,
            secrets=block.values,
            log_line=block.line,
        )
    )


def _established(state: _State, thread: int, uid: int, match: re.Match[str], number: int) -> None:
    block = state.child.pop(thread, None)
    if block is None:
        return  # the second ("outbound …") line of a rekey responder, or no keys logged
    proposal = state.child_proposal.get(block.uid) or Proposal("ESP", "")
    spi_in, spi_out = int(match["spi_in"], 16), int(match["spi_out"], 16)
    initiated = state.direction.get(thread) == "response"
    # the initiator's keys protect traffic from the exchange initiator to the responder
    out_role, in_role = ("i", "r") if initiated else ("r", "i")
    values = block.values

    def direction(spi: int, role: str) -> ChildSaDirection:
        src, dst = block.addresses.get(spi, ("", ""))
        return ChildSaDirection(
            spi=spi,
            src=src,
            dst=dst,
            encryption=proposal.encryption,
            encryption_key=values.get(f"encr_{role}", b""),
            integrity=proposal.integrity,
            integrity_key=values.get(f"integ_{role}", b""),
        )

    state.keys.child_sas.append(
        ChildSaSecrets(
            protocol=proposal.protocol,
            name=f"{match['name']}{{{match['id']}}}",
            spi_in=spi_in,
            spi_out=spi_out,
            inbound=direction(spi_in, in_role),
            outbound=direction(spi_out, out_role),
            initiated=initiated,
            esn=proposal.esn,
            dh_group=proposal.dh_group if "dh_secret" in values else "",
            dh_secret=values.get("dh_secret", b""),
            ike_spi_i=b"",
            ike_spi_r=b"",
            log_line=block.line,
        )
    )
    state.child_uids.append(block.uid or uid)


def _resolve_children(state: _State) -> None:
    """Name each CHILD_SA's IKE SA by the SPIs its IKE SA uid was checked in with."""
    for child, uid in zip(state.keys.child_sas, state.child_uids, strict=True):
        spis = state.spis.get(uid)
        if spis is None:
            state.keys.warnings.append(f"line {child.log_line}: no IKE SA SPIs for {child.name}")
            continue
        child.ike_spi_i, child.ike_spi_r = spis[1], spis[2]
