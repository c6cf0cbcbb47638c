"""Shared pytest options."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        default=False,
        help="run the robustness (fuzz) test ten times longer (also: IPSEC_INSPECT_FUZZ_LONG=1)",
    )
