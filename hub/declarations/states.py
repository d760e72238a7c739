"""The declaration state machine: every legal transition, and a Chinese refusal for every other.

draft → submitted → (approved | rejected | returned) → sent → (applied | failed); a returned
declaration is corrected and submitted again; a draft, or a submission no reviewer has claimed, can be
withdrawn. Claim, assign and release keep the state ``submitted`` and change only who holds it.
"""

from __future__ import annotations

from enum import StrEnum

from hub.errors import Conflict


class Status(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"
    SENT = "sent"
    APPLIED = "applied"
    FAILED = "failed"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    Status.DRAFT: "草稿",
    Status.SUBMITTED: "已提交",
    Status.APPROVED: "审核通过",
    Status.REJECTED: "不予受理",
    Status.RETURNED: "退回修改",
    Status.SENT: "已报送核心系统",
    Status.APPLIED: "已办结",
    Status.FAILED: "办理失败",
    Status.WITHDRAWN: "已撤回",
}


class Action(StrEnum):
    SAVE = "save"  # create or edit a draft, or correct a returned declaration
    SUBMIT = "submit"
    WITHDRAW = "withdraw"
    CLAIM = "claim"
    ASSIGN = "assign"
    RELEASE = "release"
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    SEND = "send"
    APPLY = "apply"
    FAIL = "fail"

    @property
    def label(self) -> str:
        return ACTION_LABELS[self]


ACTION_LABELS = {
    Action.SAVE: "保存",
    Action.SUBMIT: "提交",
    Action.WITHDRAW: "撤回",
    Action.CLAIM: "认领",
    Action.ASSIGN: "分派",
    Action.RELEASE: "释放",
    Action.APPROVE: "审核通过",
    Action.REJECT: "不予受理",
    Action.RETURN: "退回修改",
    Action.SEND: "报送核心系统",
    Action.APPLY: "核心系统办结",
    Action.FAIL: "核心系统办理失败",
}

# (state, action) → next state. ``None`` as a state means "no declaration yet".
TRANSITIONS: dict[tuple[Status | None, Action], Status] = {
    (None, Action.SAVE): Status.DRAFT,
    (None, Action.SUBMIT): Status.SUBMITTED,
    (Status.DRAFT, Action.SAVE): Status.DRAFT,
    (Status.DRAFT, Action.SUBMIT): Status.SUBMITTED,
    (Status.DRAFT, Action.WITHDRAW): Status.WITHDRAWN,
    (Status.RETURNED, Action.SAVE): Status.RETURNED,
    (Status.RETURNED, Action.SUBMIT): Status.SUBMITTED,
    (Status.SUBMITTED, Action.WITHDRAW): Status.WITHDRAWN,  # only while unclaimed (see ``check``)
    (Status.SUBMITTED, Action.CLAIM): Status.SUBMITTED,
    (Status.SUBMITTED, Action.ASSIGN): Status.SUBMITTED,
    (Status.SUBMITTED, Action.RELEASE): Status.SUBMITTED,
    (Status.SUBMITTED, Action.APPROVE): Status.APPROVED,
    (Status.SUBMITTED, Action.REJECT): Status.REJECTED,
    (Status.SUBMITTED, Action.RETURN): Status.RETURNED,
    (Status.APPROVED, Action.SEND): Status.SENT,
    (Status.SENT, Action.APPLY): Status.APPLIED,
    (Status.SENT, Action.FAIL): Status.FAILED,
}

TERMINAL = frozenset({Status.REJECTED, Status.APPLIED, Status.FAILED, Status.WITHDRAWN})
DECIDED = frozenset({Status.APPROVED, Status.REJECTED, Status.RETURNED, Status.SENT, Status.APPLIED, Status.FAILED})


class IllegalTransition(Conflict):
    type = "https://hub.example.gov.cn/problems/illegal-transition"
    title = "当前状态不能办理该操作"


def check(state: Status | None, action: Action, *, claimed: bool = False) -> Status:
    """The next state, or ``IllegalTransition`` with a Chinese message naming the state and the action."""
    target = TRANSITIONS.get((state, action))
    if target is None:
        if state is None:
            raise IllegalTransition(f"申报尚不存在，不能{action.label}")
        raise IllegalTransition(f"申报当前状态为“{state.label}”，不能{action.label}")
    if state is Status.SUBMITTED and action is Action.WITHDRAW and claimed:
        raise IllegalTransition("申报已由经办机构受理审核，不能撤回；如需更正请联系经办机构退回")
    return target
