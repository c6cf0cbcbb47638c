"""Shared fixtures for live-capture tests: a veth pair per test, always torn down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.live.netns import VethPair, skip_unless_netns


@pytest.fixture
def veth() -> Iterator[VethPair]:
    skip_unless_netns()
    with VethPair() as pair:
        yield pair
