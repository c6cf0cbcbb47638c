"""The decryption stage of the pipeline: records in, the same records decrypted out.

Why a stage of its own: dissectors do not know keys and the lifecycle tracker must not
decrypt, so this stage sits between them. It owns everything stateful about decryption —
key look-up caches, the IKEv1 IV chains, SKF reassembly, ESN inference, derived keys —
and counts per SA what it decrypted, which ICVs failed and which packets had no key,
with a message naming the SA and frame for each problem.

Hot path: an ESP packet costs one dict look-up of its (SPI, source, destination) and one
call to the SA's prepared decryptor; the key store is searched once per SA, not per
packet. All state is bounded (LRU-style caps), so a capture with millions of SAs or
messages cannot grow memory without limit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from ipsec_inspect.core.extensions import NO_DISSECTORS, DissectorTables
from ipsec_inspect.core.records import (
    AhPacket,
    EncryptedBody,
    EspDecryption,
    EspPacket,
    IkeMessage,
    ParseError,
    Record,
)
from ipsec_inspect.crypto import ah as ah_crypto
from ipsec_inspect.crypto.derive import Candidates, DeriveEvents, KeyDeriver
from ipsec_inspect.crypto.esp import EsnTracker, decrypt_esp, good_result_traits, verifies
from ipsec_inspect.crypto.ike_decrypt import (
    IKE_HEADER_LEN,
    SK_HEADER_LEN,
    SKF_HEADER_LEN,
    STATUS_ICV_FAILED,
    STATUS_OK,
    FragmentAssembler,
    Ikev1Cipher,
    Ikev1IvChain,
    Reassembled,
    SkResult,
    decrypt_sk,
    error_status,
    ikev1_chain_end,
)
from ipsec_inspect.crypto.keys import IkeKey, KeyStore, SaKey
from ipsec_inspect.ipsec import ikev1 as ikev1_dissector
from ipsec_inspect.ipsec import ikev2 as ikev2_dissector

STATUS_NO_KEY = "no-key"
STATUS_FRAGMENT = "fragment"
SKF_PAYLOAD = 53


@dataclass(slots=True)
class SaCounters:
    """What happened to the packets of one SA (or one IKE SA).

    ``decrypted`` counts packets whose ICV or AEAD tag verified; ``decrypted_unverified``
    those decrypted with keys that check no integrity (no integrity key), which a
    tampered packet may pass.
    """

    name: str
    decrypted: int = 0
    decrypted_unverified: int = 0
    icv_failed: int = 0
    no_key: int = 0
    errors: int = 0
    reported: int = 0  # problem messages already written for this SA

    def to_json(self) -> dict[str, int | str]:
        return {
            "sa": self.name,
            "decrypted": self.decrypted,
            "decrypted_unverified": self.decrypted_unverified,
            "icv_failed": self.icv_failed,
            "no_key": self.no_key,
            "errors": self.errors,
        }


@dataclass(slots=True)
class FastEspSa:
    """Decrypting and counting the packets of one ESP SA without looking it up each time.

    ``runner`` is the SA's prepared decrypt function (ESP bytes, ESN high bits) ->
    result; ``decrypt`` runs it and counts the result as :meth:`Decryptor.process` would.
    ``account`` counts a result made elsewhere (by ``crypto.offload`` workers), and
    ``source``, ``counter_iv`` and ``iv_len`` say what a good result of this SA carries,
    ``verified`` whether its integrity is checked (else good results count as
    ``decrypted_unverified``).
    """

    key: SaKey
    runner: Callable[[bytes, int], EspDecryption]
    counters: SaCounters
    report: Callable[[SaCounters, int, str], None]
    source: str
    counter_iv: bool
    iv_len: int
    verified: bool = True

    def decrypt(self, esp: bytes, frame: int) -> EspDecryption:
        result = self.runner(esp, 0)
        self.account(result, frame)
        return result

    def account(self, result: EspDecryption, frame: int) -> None:
        if result.status == "ok":
            count_good(self.counters, result.verified)
        else:
            self.report(self.counters, frame, result.status)

    def count_good(self) -> None:
        """Count a good result made elsewhere from its few values (``crypto.offload``)."""
        count_good(self.counters, self.verified)


def count_good(counters: SaCounters, verified: bool) -> None:
    """One packet decrypted well: verified, or decrypted with no integrity check."""
    if verified:
        counters.decrypted += 1
    else:
        counters.decrypted_unverified += 1


@dataclass(slots=True)
class _EspSa:
    key: SaKey | None
    counters: SaCounters
    retry: bool = False  # a key for this SPI may have appeared: look it up again


class Decryptor:
    """Fills ``IkeMessage.decrypted``/``decrypted_data``/``decryption_status``,
    ``EspPacket.decryption`` and ``AhPacket.icv_status`` from a :class:`KeyStore`, and
    adds the keys it derives to that store (so ``keys export`` can write them)."""

    def __init__(
        self,
        keystore: KeyStore,
        *,
        max_sas: int = 65536,
        max_messages: int = 1000,
        messages_per_sa: int = 3,
        extension_tables: DissectorTables = NO_DISSECTORS,
    ) -> None:
        self.store = keystore
        # Decrypted IKE payloads are dissected with the same extension tables as clear ones.
        self._ike_tables = extension_tables
        self.deriver = KeyDeriver(keystore)
        self.messages: list[str] = []
        self.suppressed_messages = 0
        self._max_messages = max_messages
        self._per_sa = messages_per_sa
        self._max_sas = max_sas
        self._esp: OrderedDict[tuple[int, str, str], _EspSa] = OrderedDict()
        self._ah: OrderedDict[tuple[int, str, str], _EspSa] = OrderedDict()
        self._ike_counters: OrderedDict[tuple[bytes, bytes], SaCounters] = OrderedDict()
        self._candidates: dict[int, Candidates] = {}
        self._fragments = FragmentAssembler()
        self._v1_chains: OrderedDict[bytes, Ikev1IvChain] = OrderedDict()
        self._esn = EsnTracker()
        self._replaying = False  # process_again: decrypt without counting or deriving

    # ------------------------------------------------------------------ reporting

    def counters(self) -> list[SaCounters]:
        """Per-SA counts: IKE SAs first, then ESP and AH SAs, in first-seen order."""
        out = list(self._ike_counters.values())
        out += [e.counters for e in self._esp.values()]
        out += [e.counters for e in self._ah.values()]
        return out

    def problems(self) -> list[str]:
        """What went wrong, one line per problem (SA and frame named), for people."""
        out = list(self.messages)
        if self.suppressed_messages:
            out.append(
                f"{self.suppressed_messages} more decryption problems not listed "
                "(see the per-SA counts)"
            )
        return out

    def _report(self, counters: SaCounters | None, text: str) -> None:
        if self._replaying:
            return
        if counters is not None:
            if counters.reported >= self._per_sa:
                self.suppressed_messages += 1
                return
            counters.reported += 1
        if len(self.messages) >= self._max_messages:
            self.suppressed_messages += 1
            return
        self.messages.append(text)

    # ------------------------------------------------------------------ dispatch

    def process(self, record: Record) -> Record:
        """Decrypt ``record`` in place where a key is known; never raises for bad input."""
        if type(record) is EspPacket:  # the hot path: no isinstance chain
            return self._process_esp(record)
        if isinstance(record, IkeMessage):
            self._process_ike(record)
        elif isinstance(record, AhPacket):
            self._process_ah(record)
        return record

    def process_again(self, record: Record) -> Record:
        """Decrypt a record already seen once, for a view that re-read it from the file.

        Why a separate entry: the first pass counted, reported and derived keys; doing that
        again would double the counts and re-derive what is known. This uses the keys known
        now (given and derived) and changes no counter or derivation state.
        """
        self._replaying = True
        try:
            if type(record) is EspPacket:
                if not record.errors:
                    m = record.meta
                    key = self.store.find_sa("esp", record.spi, m.src, m.dst)
                    if key is not None:
                        esp = record.data[record.offset : record.offset + record.length]
                        record.decryption = (
                            self._esn.decrypt(key, esp)[0] if key.esn else decrypt_esp(key, esp)
                        )
            elif isinstance(record, IkeMessage):
                if record.version == 2:
                    self._ikev2(record)
                elif record.version == 1 and record.header.v1_encrypted:
                    self._ikev1(record)
            elif isinstance(record, AhPacket):
                self._process_ah(record)
        except (ValueError, KeyError, IndexError) as e:
            if isinstance(record, IkeMessage):
                record.decryption_status = error_status(f"decryption failed: {e}")
        finally:
            self._replaying = False
        return record

    # ------------------------------------------------------------------ ESP (hot path)

    def fast_sa(self, spi: int, src: str, dst: str) -> FastEspSa | None:
        """One ESP SA's decryption for the pipeline's fast lane, to keep for its packets.

        Only for an SA already looked up with a key and no ESN to infer; the same
        counting and reporting as :meth:`process`. A key found for an SA does not change
        afterwards, so the object stays valid for the whole capture.
        """
        sa = self._esp.get((spi, src, dst))
        if sa is None or sa.retry or sa.key is None or sa.key.esn:
            return None
        key = sa.key
        if key.context is None or key.icv_unknown:
            return None  # not prepared (or its ICV length not found) yet: ask again later
        source, counter_iv = good_result_traits(key)
        iv_len = key.encryption.iv_len if key.encryption is not None else 0
        runner = cast(Callable[[bytes, int], EspDecryption], key.context)
        return FastEspSa(
            key, runner, sa.counters, self._esp_problem, source, counter_iv, iv_len, verifies(key)
        )

    def esp_fast(
        self, frame: int, spi: int, src: str, dst: str, esp: bytes
    ) -> EspDecryption | None:
        """Decrypt an ESP packet of an SA already looked up, without a record.

        For the pipeline's fast lane: the same counting and reporting as :meth:`process`
        for a well-formed ESP packet, given only its addresses and bytes (SPI through ICV).
        Returns None when this packet needs the full path (SA not looked up yet, no key,
        ESN to infer); the caller then builds the record and calls :meth:`process`.
        """
        sa = self._esp.get((spi, src, dst))
        if sa is None or sa.retry:
            return None
        key = sa.key
        if key is None or key.esn:
            return None
        runner = key.context  # the prepared per-SA function (decrypt_esp makes it once)
        result = runner(esp, 0) if runner is not None else decrypt_esp(key, esp)  # type: ignore[operator]
        if result.status == "ok":
            count_good(sa.counters, result.verified)
        else:
            self._esp_problem(sa.counters, frame, result.status)
        return result

    def _process_esp(self, pkt: EspPacket) -> EspPacket:
        if pkt.errors:
            return pkt
        meta = pkt.meta
        cache_key = (pkt.spi, meta.src, meta.dst)
        sa = self._esp.get(cache_key)
        if sa is None or sa.retry:
            sa = self._esp_lookup(pkt, cache_key)
        key = sa.key
        if key is None:
            sa.counters.no_key += 1
            return pkt
        offset = pkt.offset
        esp = pkt.data[offset : offset + pkt.length]
        result = self._esn.decrypt(key, esp)[0] if key.esn else decrypt_esp(key, esp)
        pkt.decryption = result
        if result.status == "ok":
            count_good(sa.counters, result.verified)
        else:
            self._esp_problem(sa.counters, meta.frame, result.status)
        return pkt

    def _esp_problem(self, counters: SaCounters, frame: int, status: str) -> None:
        if status == STATUS_ICV_FAILED:
            counters.icv_failed += 1
            why = "ICV check failed (wrong key, or the packet was altered)"
        else:
            counters.errors += 1
            why = status
        self._report(counters, f"frame {frame}: {counters.name}: {why}")

    def _esp_lookup(self, pkt: EspPacket, cache_key: tuple[int, str, str]) -> _EspSa:
        meta = pkt.meta
        name = f"ESP SPI 0x{pkt.spi:08x} {meta.src} -> {meta.dst}"
        key = self.store.find_sa("esp", pkt.spi, meta.src, meta.dst)
        if key is None and pkt.spi in self._candidates:
            key = self._try_candidates(pkt, name)
        old = self._esp.pop(cache_key, None)
        if key is not None and not verifies(key) and (old is None or old.key is not key):
            self._report(
                None,
                f"frame {meta.frame}: {name}: the keys have no integrity key, so ICVs are not "
                "checked; its packets count as decrypted_unverified",
            )
        sa = _EspSa(key, old.counters if old is not None else SaCounters(name))
        self._esp[cache_key] = sa
        while len(self._esp) > self._max_sas:
            self._esp.popitem(last=False)
        return sa

    def _try_candidates(self, pkt: EspPacket, name: str) -> SaKey | None:
        """Pick the PFS key set whose ICV verifies on this packet (see derive.Candidates)."""
        cand = self._candidates.pop(pkt.spi)
        for spi in cand.spis:
            self._candidates.pop(spi, None)
        esp = pkt.data[pkt.offset : pkt.offset + pkt.length]
        for keys in cand.sets:
            key = next((k for k in keys if k.spi == pkt.spi), None)
            if key is None:
                continue
            if decrypt_esp(key, esp, 0).status == STATUS_OK:
                for k in keys:
                    k.context = None  # prepared state of the trial is dropped
                    self._add_sa_key(k)
                return key
        self._report(
            None,
            f"frame {pkt.meta.frame}: {name}: none of the {len(cand.sets)} known DH secrets "
            f"gives keys that verify ({cand.origin})",
        )
        return None

    # ------------------------------------------------------------------ AH

    def _process_ah(self, pkt: AhPacket) -> None:
        if pkt.errors:
            return
        meta = pkt.meta
        cache_key = (pkt.spi, meta.src, meta.dst)
        sa = self._ah.get(cache_key)
        if sa is None or sa.retry:
            name = f"AH SPI 0x{pkt.spi:08x} {meta.src} -> {meta.dst}"
            counters = sa.counters if sa is not None else SaCounters(name)
            sa = _EspSa(self.store.find_sa("ah", pkt.spi, meta.src, meta.dst), counters)
            self._ah[cache_key] = sa
            while len(self._ah) > self._max_sas:
                self._ah.popitem(last=False)
        if sa.key is None:
            if not self._replaying:
                sa.counters.no_key += 1
            return
        start = pkt.ip_offset
        status = ah_crypto.verify_ah(
            sa.key, pkt.data[start : _ip_end(pkt.data, start)], pkt.offset - start, sa.key.esn_high
        )
        pkt.icv_status = status
        if self._replaying:
            return
        if status == STATUS_OK:
            sa.counters.decrypted += 1
        else:
            self._esp_problem(sa.counters, meta.frame, status)

    # ------------------------------------------------------------------ IKE

    def _ike_counters_for(self, msg: IkeMessage) -> SaCounters:
        h = msg.header
        k = (h.spi_i, h.spi_r)
        c = self._ike_counters.get(k)
        if c is None:
            label = "ISAKMP SA" if msg.version == 1 else "IKEv2 SA"
            c = self._ike_counters[k] = SaCounters(f"{label} {h.spi_i.hex()}/{h.spi_r.hex()}")
            while len(self._ike_counters) > self._max_sas:
                self._ike_counters.popitem(last=False)
        return c

    def _process_ike(self, msg: IkeMessage) -> None:
        try:
            if msg.version == 2:
                self._ikev2(msg)
            elif msg.version == 1 and msg.header.v1_encrypted:
                self._ikev1(msg)
        except (ValueError, KeyError, IndexError) as e:  # defensive: never end the run
            msg.decryption_status = error_status(f"decryption failed: {e}")
        self._apply(self.deriver.observe(msg))

    def _ike_status(
        self, msg: IkeMessage, status: str, detail: str = "", verified: bool = True
    ) -> None:
        msg.decryption_status = status
        if self._replaying:
            return
        counters = self._ike_counters_for(msg)
        frame = msg.meta.frame
        if status == STATUS_OK:
            count_good(counters, verified)
        elif status == STATUS_FRAGMENT:
            return
        elif status == STATUS_NO_KEY:
            counters.no_key += 1
        elif status == STATUS_ICV_FAILED:
            counters.icv_failed += 1
            self._report(counters, f"frame {frame}: {counters.name}: ICV check failed (wrong key?)")
        else:
            counters.errors += 1
            self._report(counters, f"frame {frame}: {counters.name}: {detail or status}")

    # IKEv2 ---------------------------------------------------------------

    def _ikev2(self, msg: IkeMessage) -> None:
        payload = next((p for p in msg.payloads if isinstance(p.body, EncryptedBody)), None)
        if payload is None or not isinstance(payload.body, EncryptedBody):
            return
        body = payload.body
        h = msg.header
        candidates = [self.deriver.ikev2_key(h.spi_i, h.spi_r)]
        trial = self.deriver.ike_candidates.get((h.spi_i, h.spi_r), [])
        keys = [k for k in candidates if k is not None] or trial
        if not keys:
            self._ike_status(msg, STATUS_NO_KEY)
            return
        skf = payload.type == SKF_PAYLOAD
        header_len = SKF_HEADER_LEN if skf else SK_HEADER_LEN
        start = msg.offset
        message = msg.data[start : start + msg.length]
        payload_offset = body.body_offset - start - header_len
        payload_end = body.body_offset + body.body_length - start
        result: SkResult | None = None
        for key in keys:
            result = self._sk_with(
                key, h.is_initiator, message, payload_offset, header_len, payload_end
            )
            if result.ok:
                if key in trial:
                    self.deriver.promote_ike(key)
                    self.store.add_ike(key)
                break
        assert result is not None
        if result.status == STATUS_ICV_FAILED and result.plaintext and not skf:
            self._unverified_v2(msg, result.plaintext, body.first_payload)
            return
        if not result.ok:
            self._ike_status(msg, result.status)
            return
        if skf:
            self._fragment(msg, body, result)
            return
        self._dissect_v2(msg, result.plaintext, body.first_payload, result.icv_checked)

    @staticmethod
    def _sk_with(
        key: IkeKey, initiator: bool, message: bytes, offset: int, header_len: int, end: int
    ) -> SkResult:
        if key.encryption is None:
            return SkResult(error_status(f"{key.describe()}: the encryption algorithm is unknown"))
        s = key.secrets
        ek = s.get("sk_ei" if initiator else "sk_er")
        ak = s.get("sk_ai" if initiator else "sk_ar", b"")
        if not ek:
            return SkResult(error_status(f"{key.describe()}: no SK_e{'i' if initiator else 'r'}"))
        integ = None if key.encryption.aead else key.integrity
        return decrypt_sk(message, offset, header_len, end, key.encryption, ek, integ, ak)

    def _fragment(self, msg: IkeMessage, body: EncryptedBody, result: SkResult) -> None:
        h = msg.header
        if self._replaying:  # the pass reassembled it already; a view shows the fragment
            self._ike_status(msg, STATUS_FRAGMENT)
            return
        done = self._fragments.add(
            (h.spi_i, h.spi_r, h.message_id, h.is_response),
            body.fragment_number,
            body.total_fragments,
            body.first_payload,
            result.plaintext,
            msg.meta.frame,
        )
        if done is None:
            self._ike_status(msg, STATUS_FRAGMENT)
        elif isinstance(done, Reassembled):
            self._dissect_v2(msg, done.plaintext, done.first_payload)
        else:
            self._ike_status(msg, error_status(done))

    def _unverified_v2(self, msg: IkeMessage, plaintext: bytes, first: int) -> None:
        """The ICV failed but SK_e may be right (a peer with a broken ICV, or SK_a
        wrong): show the payloads only if they parse without a single error, and keep
        the status ``icv-failed`` so nobody mistakes them for verified data."""
        payloads, errors = ikev2_dissector.parse_payload_chain(
            plaintext, 0, len(plaintext), first, self._ike_tables
        )
        if not errors and all(p.error is None for p in payloads):
            msg.decrypted = payloads
            msg.decrypted_data = plaintext
        self._ike_status(msg, STATUS_ICV_FAILED)

    def _dissect_v2(
        self, msg: IkeMessage, plaintext: bytes, first: int, verified: bool = True
    ) -> None:
        """``verified`` False: the ICV could not be checked ("ANY n-bits [No Checking]"),
        so the message counts as decrypted_unverified."""
        payloads, errors = ikev2_dissector.parse_payload_chain(
            plaintext, 0, len(plaintext), first, self._ike_tables
        )
        msg.decrypted = payloads
        msg.decrypted_data = plaintext
        msg.errors.extend(_decrypted_errors(errors))
        self._ike_status(msg, STATUS_OK, verified=verified)

    # IKEv1 ---------------------------------------------------------------

    def _ikev1(self, msg: IkeMessage) -> None:
        h = msg.header
        got = self.deriver.ikev1_cipher(h.spi_i, h.spi_r)
        if got == STATUS_NO_KEY:
            self._ike_status(msg, STATUS_NO_KEY)
            return
        if isinstance(got, str):
            self._ike_status(msg, error_status(got))
            return
        encr, key, hash_id = got
        chain = self._v1_chains.get(h.spi_i)
        if chain is None:
            chain = self._v1_chains[h.spi_i] = Ikev1IvChain()
            while len(self._v1_chains) > self._max_sas:
                self._v1_chains.popitem(last=False)
        state = self.deriver.ikev1_state(h.spi_i)
        if state is not None:
            chain.ke_i = chain.ke_i or state.ke_i
            chain.ke_r = chain.ke_r or state.ke_r
        start = msg.offset + IKE_HEADER_LEN
        end = msg.offset + min(h.length, msg.length)
        usable = (end - start) - (end - start) % encr.block_len
        result = chain.decrypt(
            Ikev1Cipher(encr, key, hash_id), h.message_id, msg.data[start : start + usable]
        )
        if not result.ok:
            self._ike_status(msg, result.status)
            return
        plain = result.plaintext
        chain_end = ikev1_chain_end(plain, h.next_payload)
        if chain_end is None:
            self._ike_status(
                msg,
                error_status(
                    "the decrypted payloads do not form a valid chain (wrong key, or an "
                    "earlier message of this exchange is missing from the capture)"
                ),
            )
            return
        payloads, errors = ikev1_dissector.parse_payload_chain(
            plain, 0, chain_end, h.next_payload, exchange=h.exchange, ext=self._ike_tables
        )
        msg.decrypted = payloads
        msg.decrypted_data = plain
        msg.errors.extend(_decrypted_errors(errors))
        self._ike_status(msg, STATUS_OK)

    # ------------------------------------------------------------------ derived keys

    def _apply(self, events: DeriveEvents) -> None:
        for k in events.ike_keys:
            self.store.add_ike(k)
        for sa_key in events.sa_keys:
            self._add_sa_key(sa_key)
        for cand in events.candidates:
            for spi in cand.spis:
                self._candidates[spi] = cand
                self._forget_negative(spi)
        for text in events.problems:
            self._report(None, text)

    def _add_sa_key(self, key: SaKey) -> None:
        self.store.add_sa(key)
        self._forget_negative(key.spi)

    def _forget_negative(self, spi: int) -> None:
        """Drop cached "no key" answers for ``spi`` so the next packet looks again."""
        for cache in (self._esp, self._ah):
            for k, entry in cache.items():
                if k[0] == spi and entry.key is None:
                    entry.retry = True


def _decrypted_errors(errors: list[ParseError]) -> list[ParseError]:
    """Parse errors inside decrypted data: offsets refer to ``decrypted_data``."""
    return [ParseError(f"in decrypted data: {e.message}", e.offset) for e in errors]


def _ip_end(data: bytes, start: int) -> int:
    """End of the IP datagram that starts at ``start`` (its length field, clamped), so
    link-layer padding after it is not authenticated by mistake."""
    if start + 8 > len(data):
        return len(data)
    if data[start] >> 4 == 6:
        length = 40 + int.from_bytes(data[start + 4 : start + 6], "big")
    else:
        length = int.from_bytes(data[start + 2 : start + 4], "big")
    return min(len(data), start + length) if length else len(data)
