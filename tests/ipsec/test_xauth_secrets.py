"""The XAUTH password of a real IKEv1 capture never shows in dissected fields or packet JSON
(it is a secret: only the lifecycle export with --include-keys carries it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipsec_inspect.core.records import ConfigBody, IkeMessage
from ipsec_inspect.ipsec.ike import ike_to_json
from ipsec_inspect.pipeline.session import open_records

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "realpeer" / "ikev1-aggressive-xauth"
PASSWORD = b"realpeer-xauth-password-not-secret"


def test_xauth_password_is_kept_for_the_lifecycle_but_never_shown() -> None:
    if not (SAMPLE / "capture.pcap").exists():
        pytest.skip("samples/realpeer/ikev1-aggressive-xauth not generated")
    stream = open_records(SAMPLE / "capture.pcap", key_paths=[str(SAMPLE / "keys.toml")])
    seen = 0
    for r in stream:
        if not isinstance(r, IkeMessage):
            continue
        for p in r.all_payloads:
            if isinstance(p.body, ConfigBody):
                values = {a.type: a.value for a in p.body.attributes}
                if values.get(16522):
                    assert values[16522] == PASSWORD  # the attribute keeps it (lifecycle)
                    seen += 1
                shown = json.dumps([f.to_json() for f in p.fields])
                assert PASSWORD.hex() not in shown and PASSWORD.decode() not in shown
        text = json.dumps(ike_to_json(r))
        assert PASSWORD.hex() not in text and PASSWORD.decode() not in text
    assert seen == 1
