"""The state machine: every (state, action) pair is either the one legal move or a Chinese refusal."""

from __future__ import annotations

import itertools

import pytest

from hub.declarations.states import Action, IllegalTransition, Status, check

S, A = Status, Action

# The legal moves, written out from the states (not read from the table under test).
LEGAL = {
    (None, A.SAVE): S.DRAFT,
    (None, A.SUBMIT): S.SUBMITTED,
    (S.DRAFT, A.SAVE): S.DRAFT,
    (S.DRAFT, A.SUBMIT): S.SUBMITTED,
    (S.DRAFT, A.WITHDRAW): S.WITHDRAWN,
    (S.RETURNED, A.SAVE): S.RETURNED,
    (S.RETURNED, A.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, A.WITHDRAW): S.WITHDRAWN,
    (S.SUBMITTED, A.CLAIM): S.SUBMITTED,
    (S.SUBMITTED, A.ASSIGN): S.SUBMITTED,
    (S.SUBMITTED, A.RELEASE): S.SUBMITTED,
    (S.SUBMITTED, A.APPROVE): S.APPROVED,
    (S.SUBMITTED, A.REJECT): S.REJECTED,
    (S.SUBMITTED, A.RETURN): S.RETURNED,
    (S.APPROVED, A.SEND): S.SENT,
    (S.SENT, A.APPLY): S.APPLIED,
    (S.SENT, A.FAIL): S.FAILED,
}

PAIRS = list(itertools.product([None, *Status], Action))


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_every_pair(state: Status | None, action: Action) -> None:
    if (state, action) in LEGAL:
        assert check(state, action) is LEGAL[(state, action)]
    else:
        with pytest.raises(IllegalTransition) as info:
            check(state, action)
        assert info.value.status == 409
        assert action.label in info.value.detail
        if state is not None:
            assert state.label in info.value.detail


def test_a_claimed_submission_cannot_be_withdrawn() -> None:
    assert check(S.SUBMITTED, A.WITHDRAW, claimed=False) is S.WITHDRAWN
    with pytest.raises(IllegalTransition, match="不能撤回"):
        check(S.SUBMITTED, A.WITHDRAW, claimed=True)


def test_terminal_states_admit_nothing() -> None:
    for state in (S.REJECTED, S.APPLIED, S.FAILED, S.WITHDRAWN):
        for action in Action:
            with pytest.raises(IllegalTransition):
                check(state, action)
