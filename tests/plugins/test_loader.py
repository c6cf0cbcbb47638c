"""Loading: both ways, failures reported and skipped, the CLI's plugins command."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import pytest

from ipsec_inspect.cli import main
from ipsec_inspect.plugins.loader import (
    ENTRY_POINT_GROUP,
    checkout_plugins_dir,
    load_entry_points,
    load_plugins,
)
from ipsec_inspect.plugins.registry import PluginRegistry

from .conftest import PLUGINS, SAMPLES, SHIPPED, load_shipped

BROKEN_IMPORT = "raise RuntimeError('boom at import')\n"
NO_REGISTER = "VALUE = 1\n"
BAD_REGISTER = "def register(ctx):\n    ctx.add_payload(2, 7, 'X', 'not private')\n"
GOOD = (
    "NAME = 'site_vids'\nVERSION = '0.3'\nDESCRIPTION = 'site vendor IDs'\n"
    "def register(ctx):\n    ctx.add_vendor_id('0011223344556677', 'Site VPN box')\n"
)


def _write(folder: Path, name: str, text: str) -> None:
    (folder / f"{name}.py").write_text(text)


@pytest.mark.parametrize("way", ["directory", "entry point"])
def test_each_shipped_plugin_loads_both_ways(way: str, plugin_path: Path) -> None:
    registry = load_shipped(way)
    assert registry.failed == []
    assert sorted(p.name for p in registry.loaded) == list(SHIPPED)
    origin = "--plugin-dir" if way == "directory" else "entry point"
    assert {p.origin for p in registry.loaded} == {origin}
    assert sorted(registry.exporters) == ["suricata-eve-ike", "zeek-ipsec-log"]
    assert registry.rules == ()  # the CNSA rules are a policy, off until selected
    assert [r.id for r in registry.policies["cnsa"]] == ["CNSA-01", "CNSA-02", "CNSA-03", "CNSA-04"]
    assert registry.active_rules() == ()
    registry.select_policies(["cnsa"])
    assert [r.id for r in registry.active_rules()] == ["CNSA-01", "CNSA-02", "CNSA-03", "CNSA-04"]
    assert registry.vendor_name(bytes.fromhex("c61baca1f1a60cc10800000000000000")) == (
        "NCP client (capabilities)"
    )
    zeek = next(p for p in registry.loaded if p.name == "zeek_ipsec_log")
    assert zeek.version == "1.0"
    assert zeek.adds == ("exporter zeek-ipsec-log",)


def test_checkout_plugins_folder_is_found() -> None:
    assert checkout_plugins_dir() == PLUGINS.resolve()


def test_failures_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    _write(tmp_path, "a_broken", BROKEN_IMPORT)
    _write(tmp_path, "b_empty", NO_REGISTER)
    _write(tmp_path, "c_bad_row", BAD_REGISTER)
    _write(tmp_path, "d_good", GOOD)
    registry = load_plugins([tmp_path], entry_points=False, checkout=False)
    assert [p.name for p in registry.loaded] == ["site_vids"]
    errors = {f.name: f.error for f in registry.failed}
    assert errors == {
        "a_broken": "RuntimeError: boom at import",
        "b_empty": "it has no register(ctx) function",
        "c_bad_row": "ValueError: payload type 7 is not in the private-use range 128-255",
    }
    assert registry.vendor_name(bytes.fromhex("0011223344556677")) == "Site VPN box"


def test_entry_point_that_fails_to_import_is_reported() -> None:
    registry = PluginRegistry()
    eps = [metadata.EntryPoint("ghost", "no_such_module_here:register", ENTRY_POINT_GROUP)]
    load_entry_points(registry, eps)
    assert registry.loaded == []
    assert registry.failed[0].name == "ghost"
    assert registry.failed[0].error.startswith("ModuleNotFoundError")


def test_duplicate_names_and_clashing_rows(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    _write(one, "d_good", GOOD)
    _write(two, "d_good", GOOD)  # same NAME: skipped, not loaded twice
    _write(two, "e_clash", GOOD.replace("site_vids", "other_vids"))  # same vendor ID row
    registry = load_plugins([one, two], entry_points=False, checkout=False)
    assert [p.name for p in registry.loaded] == ["site_vids"]
    assert len(registry.skipped) == 1 and "already loaded" in registry.skipped[0]
    assert registry.failed[0].name == "other_vids"
    assert "vendor ID 0011223344556677 is already added by plugin site_vids" in (
        registry.failed[0].error
    )


def test_plugins_command_lists_loaded_and_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, "a_broken", BROKEN_IMPORT)
    _write(tmp_path, "d_good", GOOD)
    code = main(["--plugin-dir", str(tmp_path), "plugins", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # a plugin failed to load
    loaded = {p["name"]: p for p in doc["loaded"]}
    assert loaded["site_vids"]["origin"] == "--plugin-dir"
    assert loaded["site_vids"]["adds"] == ["1 vendor ID(s)"]
    assert set(SHIPPED) <= set(loaded)  # the checkout's plugins/ too
    assert loaded["cnsa_policy"]["origin"] == "checkout"
    assert doc["failed"] == [
        {
            "name": "a_broken",
            "origin": "--plugin-dir",
            "source": str(tmp_path / "a_broken.py"),
            "error": "RuntimeError: boom at import",
        }
    ]


def test_no_plugins_switch(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-plugins", "plugins"]) == 0
    assert "switched off" in capsys.readouterr().out


def test_a_broken_plugin_does_not_stop_a_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path, "a_broken", BROKEN_IMPORT)
    code = main(["--plugin-dir", str(tmp_path), "export", str(SAMPLES / "ah.pcap")])
    out = capsys.readouterr()
    assert code == 0
    assert json.loads(out.out)["capture"]["frames"] > 0
    assert "plugin a_broken (--plugin-dir) was not loaded: RuntimeError: boom at import" in out.err


def test_policy_is_opt_in_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from ipsec_inspect.cli import main

    sample = str(SAMPLES / "ikev2-tunnel.pcapng")
    assert main(["--plugin-dir", str(PLUGINS), "summary", sample, "--format", "json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert not [f for f in plain["findings"] if f["rule"].startswith("CNSA")]
    keys = str(SAMPLES / "ikev2-tunnel.keys.toml")
    argv = ["--plugin-dir", str(PLUGINS), "--policy", "cnsa", "summary", sample, "--format", "json"]
    assert main([*argv, "--keys", keys]) == 0
    audited = json.loads(capsys.readouterr().out)
    cnsa = {f["rule"]: f["outcome"] for f in audited["findings"] if f["rule"].startswith("CNSA")}
    # AES-CBC-256 / PRF-HMAC-SHA2-256 / X25519 IKE SA, AES-GCM-16-128 child SAs: all off-profile.
    assert cnsa == {"CNSA-01": "fail", "CNSA-02": "fail", "CNSA-03": "fail", "CNSA-04": "fail"}
    # Without keys the child SA's cipher is inside the encrypted IKE_AUTH: not observable.
    assert main(argv) == 0
    unkeyed = json.loads(capsys.readouterr().out)
    assert not [f for f in unkeyed["findings"] if f["rule"] == "CNSA-04"]  # none failed
    (cnsa04,) = [s for s in unkeyed["findings_summary"] if s["rule"] == "CNSA-04"]
    assert (cnsa04["failed"], cnsa04["passed"], cnsa04["not_observable"]) == (0, 0, 2)
    assert cnsa04["not_observable_sas"] == ["child-1", "child-2"]
    assert main([*argv, "--findings", "all"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {f["outcome"] for f in listed["findings"] if f["rule"] == "CNSA-04"} == {
        "not_observable"
    }
    with pytest.raises(SystemExit) as exited:  # an option value: a usage error
        main(["--plugin-dir", str(PLUGINS), "--policy", "nope", "summary", sample])
    assert exited.value.code == 2
    assert "no policy named 'nope'" in capsys.readouterr().err


def test_a_checkout_reads_the_shipped_plugins_from_its_plugins_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An editable install announces the shipped plugins as entry points into copies of
    plugins/ (the wheel's ipsec_inspect_plugins); a checkout uses plugins/ itself, and
    other distributions' entry points still load."""
    from ipsec_inspect.plugins import loader

    eps = [
        metadata.EntryPoint(
            "zeek_ipsec_log", "ipsec_inspect_plugins.zeek_ipsec_log", ENTRY_POINT_GROUP
        ),
        metadata.EntryPoint("ghost", "no_such_module_for_ipsec_inspect", ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(metadata, "entry_points", lambda group: eps)
    monkeypatch.setattr(loader, "entry_points_may_load", lambda group, skip: True)
    registry = load_plugins()
    assert {p.name: p.origin for p in registry.loaded}["zeek_ipsec_log"] == "checkout"
    assert [f.name for f in registry.failed] == ["ghost"]  # a third party's is still tried
    assert registry.skipped == []


def _fake_distribution(folder: Path, name: str, text: str) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "entry_points.txt").write_text(text)


@pytest.mark.parametrize(
    ("text", "skip", "expected"),
    [
        ("[console_scripts]\nx = x:main\n", None, False),  # another group only
        (f"[{ENTRY_POINT_GROUP}]\nmine = my_plugin\n", None, True),
        (f"[{ENTRY_POINT_GROUP}]\nmine = my_plugin\n", "ipsec_inspect_plugins.", True),
        (f"[{ENTRY_POINT_GROUP}]\nz = ipsec_inspect_plugins.z\n", "ipsec_inspect_plugins.", False),
        (f"[{ENTRY_POINT_GROUP}]\n# mine = my_plugin\n", None, False),  # a comment
        (f"[{ENTRY_POINT_GROUP}]\nodd line\n", "x.", True),  # cannot tell: metadata decides
    ],
)
def test_the_cheap_entry_point_scan_answers_as_importlib_metadata(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, skip: str | None, expected: bool
) -> None:
    """The scan that spares a short command importlib.metadata says "nothing to load"
    only when metadata would find nothing (other than skipped values) in the group."""
    from importlib.machinery import PathFinder

    from ipsec_inspect.plugins.loader import entry_points_may_load

    _fake_distribution(tmp_path, "fake_ipsec_plugin", text)
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    # only the standard finder of distributions: a test earlier in the same process may
    # leave another one behind (the scan then rightly defers to importlib.metadata)
    finders = [f for f in sys.meta_path if f is PathFinder or not hasattr(f, "find_distributions")]
    monkeypatch.setattr(sys, "meta_path", finders)
    assert entry_points_may_load(ENTRY_POINT_GROUP, skip) is expected
    if not expected:  # then metadata finds nothing to load either
        eps = metadata.entry_points(group=ENTRY_POINT_GROUP)
        assert [ep.value for ep in eps if skip is None or not ep.value.startswith(skip)] == []


def test_the_cheap_entry_point_scan_defers_to_metadata_for_a_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipsec_inspect.plugins.loader import entry_points_may_load

    (tmp_path / "some.zip").write_bytes(b"PK\x05\x06" + bytes(18))
    monkeypatch.setattr(sys, "path", [str(tmp_path / "some.zip")])
    assert entry_points_may_load(ENTRY_POINT_GROUP, None) is True
