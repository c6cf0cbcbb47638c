"""Which key file matched the capture: the sentence and its SPIs, wildcards included."""

from __future__ import annotations

from ipsec_inspect.crypto.key_usage import SeenSpis, key_match_lines
from ipsec_inspect.crypto.keys import IkeKey, KeyFileKeys, KeySource, KeyStore, SaKey


def _sa(spi: int, mask: int = 0xFFFFFFFF, protocol: str = "esp", **kw: object) -> SaKey:
    return SaKey(protocol, spi, None, None, None, b"", None, b"", spi_mask=mask, **kw)  # type: ignore[arg-type]


SEEN = SeenSpis.of(
    [("esp", 0x11112222), ("esp", 0x33334444), ("ah", 0x5)], [(b"\x01" * 8, b"\x02" * 8)]
)


def test_wildcards_and_ike_rows_without_responder_spi_match() -> None:
    store = KeyStore()
    store.files = [
        KeyFileKeys("wild", (_sa(0x11110000, mask=0xFFFF0000),), ()),
        KeyFileKeys("cookie", (), (IkeKey(1, b"\x01" * 8, b"", None, None, None, None),)),
        KeyFileKeys("any-ah", (_sa(0, mask=0, protocol="ah"),), ()),
    ]
    assert key_match_lines(store, SEEN) == []


def test_a_file_matching_nothing_lists_both_sides_and_one_adding_nothing_is_named() -> None:
    store = KeyStore()
    first = KeyFileKeys("first.toml", (_sa(0x11112222), _sa(0x33334444)), ())
    again = KeyFileKeys("again/esp_sa", (_sa(0x33334444),), ())
    other = KeyFileKeys("other.toml", tuple(_sa(0xA0 + i) for i in range(8)), ())
    store.files = [first, again, other]
    assert key_match_lines(store, SEEN) == [
        "again/esp_sa: adds no key: every SA of this capture it holds a key for already has one "
        "from the files before it or from derivation",
        "other.toml: no key matches this capture: it holds ESP SPIs 0x000000a0, 0x000000a1, "
        "0x000000a2, 0x000000a3, 0x000000a4, 0x000000a5 and 2 more; the capture has ESP SPIs "
        "0x11112222, 0x33334444, AH SPIs 0x00000005, IKE SPIs 0101010101010101",
    ]


def test_keys_derived_from_an_earlier_file_make_a_later_one_redundant() -> None:
    store = KeyStore()
    store.add_sa(_sa(0x11112222, source=KeySource.DERIVED))
    store.files = [
        KeyFileKeys("ike.toml", (), (IkeKey(2, b"\x01" * 8, b"\x02" * 8, None, None, None, None),)),
        KeyFileKeys("esp_sa", (_sa(0x11112222),), ()),
    ]
    assert [line.split(":")[0] for line in key_match_lines(store, SEEN)] == ["esp_sa"]


def test_many_sas_and_keys() -> None:
    store = KeyStore()
    store.files = [KeyFileKeys("big", tuple(_sa(i) for i in range(20_000)), ())]
    seen = SeenSpis.of([("esp", i) for i in range(10_000, 30_000)], [])
    assert key_match_lines(store, seen) == []  # half of them match: nothing to say
