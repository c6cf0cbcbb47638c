"""A site policy as audit rules: the negotiated suites against the CNSA profile (RFC 9206).

Why a plugin: which algorithms a site accepts is policy, not protocol. The built-in rules
grade against RFC 8247/8221 levels; this plugin adds rows of the same shape (id, title,
severity, reference, scope, stage, check) that fail an SA whose chosen suite is outside
the CNSA-style profile: AES-256-GCM (16-octet ICV), PRF HMAC-SHA-384 or stronger, and a
key exchange of ECP-384 or larger (MODP-3072 or larger is also accepted by RFC 9206).
Like every rule, a suite that the capture does not show is ``not_observable``, never
``pass``. The profile is data below: a site copies this plugin and edits the sets.

The rules form the policy ``cnsa``: they run only when asked for, as in
``ipsec-inspect --policy cnsa summary capture.pcap`` (a site's policy is its choice, and
a finding raised unasked would be noise to everyone else).
"""

from __future__ import annotations

from ipsec_inspect.audit.findings import Severity, Verdict, fail, passed, unseen
from ipsec_inspect.audit.rules import Check, Rule
from ipsec_inspect.lifecycle.model import Certainty, Stage
from ipsec_inspect.plugins.api import PluginContext

NAME = "cnsa_policy"
VERSION = "1.0"
DESCRIPTION = "rules CNSA-01..04: IKE and child SAs against the CNSA profile (RFC 9206)"

PROFILE = "CNSA (RFC 9206)"
ENCRYPTION = frozenset({20})  # ENCR_AES_GCM_16
KEY_BITS = 256
PRF = frozenset({6, 7})  # PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512
KEY_EXCHANGE = frozenset({20, 21, 15, 16, 17, 18})  # ECP-384, ECP-521, MODP-3072..8192
REFERENCE = "RFC 9206 §3, §4 (CNSA Suite for IPsec)"


def _frames(sa: object) -> list[int]:
    stages = getattr(sa, "stages", {})
    frames = [e.frame for span in stages.values() for e in span.events if e.kind == "ike.chosen"]
    return frames or [
        e.frame for span in stages.values() for e in span.events if e.kind == "child.installed"
    ]


def _chosen(key: str, what: str, ok: frozenset[int], key_bits: int | None = None) -> Check:
    """A check on the chosen transform ``key`` (IKEv2 numbering; IKEv1 is mapped onto it)."""

    def check(sa: object, _result: object) -> Verdict | None:
        if getattr(sa, "protocol", "esp") == "ah":
            return None  # AH has no encryption to grade; the core flags AH-only SAs
        chosen_ids: dict[str, int] = getattr(sa, "chosen_ids", {})
        names: dict[str, object] = getattr(sa, "chosen", {})
        if key not in chosen_ids:
            certainty = getattr(sa, "certainty", {}).get("chosen")
            if certainty == Certainty.OBSERVED and key != "encryption":
                return fail(f"no {what} in the chosen suite ({PROFILE} requires one)", _frames(sa))
            return unseen(f"the chosen {what} is not visible in the capture")
        value = chosen_ids[key]
        name = names.get(key) or str(value)
        if value not in ok:
            return fail(f"{what} {name} is outside the {PROFILE} profile", _frames(sa))
        if key_bits is not None and "key_bits" not in chosen_ids:
            # A variable-length cipher without its Key Length attribute (RFC 7296 §3.3.5
            # says it MUST be there): the capture does not show the key size.
            return unseen(f"{what} {name}: the proposal carries no key length")
        if key_bits is not None and chosen_ids["key_bits"] != key_bits:
            bits = chosen_ids.get("key_bits")
            return fail(
                f"{what} {name} with a {bits}-bit key; {PROFILE} needs {key_bits}", _frames(sa)
            )
        return passed(f"{what}: {name}")

    return check


RULES: tuple[Rule, ...] = (
    Rule(
        "CNSA-01",
        "IKE SA encryption is not AES-256-GCM",
        Severity.HIGH,
        REFERENCE,
        "ike",
        Stage.NEGOTIATION,
        _chosen("encryption", "encryption", ENCRYPTION, KEY_BITS),
    ),
    Rule(
        "CNSA-02",
        "IKE SA PRF weaker than HMAC-SHA-384",
        Severity.HIGH,
        REFERENCE,
        "ike",
        Stage.NEGOTIATION,
        _chosen("prf", "PRF", PRF),
    ),
    Rule(
        "CNSA-03",
        "IKE SA key exchange smaller than ECP-384 / MODP-3072",
        Severity.HIGH,
        REFERENCE,
        "ike",
        Stage.NEGOTIATION,
        _chosen("dh_group", "key exchange", KEY_EXCHANGE),
    ),
    Rule(
        "CNSA-04",
        "Child SA encryption is not AES-256-GCM",
        Severity.HIGH,
        REFERENCE,
        "child",
        Stage.NEGOTIATION,
        _chosen("encryption", "encryption", ENCRYPTION, KEY_BITS),
    ),
)


POLICY = "cnsa"


def register(ctx: PluginContext) -> None:
    for rule in RULES:
        ctx.add_rule(rule, policy=POLICY)
