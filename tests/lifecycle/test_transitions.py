"""The IKE SA transition table: every row named, unique, reachable and tested."""

from __future__ import annotations

import pytest

from ipsec_inspect.lifecycle.model import Stage
from ipsec_inspect.lifecycle.transitions import (
    TABLE,
    TRANSITIONS,
    IkeState,
    IllegalTransition,
    Trigger,
    next_transition,
)


def test_rows_are_unique_by_state_and_trigger_and_name():
    assert len(TABLE) == len(TRANSITIONS)
    assert len({t.name for t in TRANSITIONS}) == len(TRANSITIONS)


@pytest.mark.parametrize("row", TRANSITIONS, ids=lambda t: t.name)
def test_each_transition(row):
    got = next_transition(row.source, row.trigger)
    assert got is row and got.target == row.target and got.stage in Stage


def test_every_state_but_start_is_reachable():
    targets = {t.target for t in TRANSITIONS}
    assert targets | {IkeState.START} == set(IkeState)


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (IkeState.START, Trigger.MM5),
        (IkeState.CLOSED, Trigger.CHILD_REQ),
        (IkeState.INIT_DONE, Trigger.CHILD_REQ),
        (IkeState.ESTABLISHED, Trigger.INIT_REQ),
    ],
)
def test_illegal_transitions_are_named_errors(state, trigger):
    with pytest.raises(IllegalTransition) as e:
        next_transition(state, trigger)
    assert e.value.state == state and e.value.trigger == trigger
    assert str(e.value) == f"{trigger.value} is not expected in state {state.value}"


@pytest.mark.parametrize(
    ("name", "stage"),
    [
        ("init_requested", Stage.NEGOTIATION),
        ("auth_completed", Stage.CIRCUIT),
        ("info_requested", Stage.TRANSMISSION),
        ("delete_acknowledged", Stage.TERMINATION),
        ("mm5_sent", Stage.CIRCUIT),
        ("quick_mode", Stage.TRANSMISSION),
        ("init_rejected", Stage.NEGOTIATION),
        ("auth_failed", Stage.CIRCUIT),
    ],
)
def test_stage_of_key_transitions_follows_lifecycle_md(name, stage):
    assert next(t for t in TRANSITIONS if t.name == name).stage == stage
