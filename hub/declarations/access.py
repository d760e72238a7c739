"""Who may do what with declarations (row-level rules on top of the caller's kind and roles).

A unit operator sees and acts on their own unit's declarations only; agency operators and reviewers
see the declarations of their 统筹区, and only reviewers decide; the three administrators see none
(三员分离), except that the system administrator maintains the calendar, deadlines and auto-approve
rules. A declaration someone may not see answers exactly like a missing one.
"""

from __future__ import annotations

from hub.access.subject import StaffRole, Subject, SubjectKind
from hub.errors import Forbidden, HubError

DATA_ROLES = frozenset({StaffRole.OPERATOR, StaffRole.REVIEWER})
MAINTAINER_ROLES = frozenset({StaffRole.OPERATOR, StaffRole.SYSTEM_ADMIN})


class NotPermitted(HubError):
    type = "https://hub.example.gov.cn/problems/forbidden"
    title = "无权办理"
    status = 403
    default_detail = "您没有办理该业务的权限"


def may_see(subject: Subject, unit_id: int, region_code: str) -> bool:
    if subject.kind is SubjectKind.UNIT_OPERATOR:
        return subject.unit_id is not None and subject.unit_id == unit_id
    if subject.kind is SubjectKind.STAFF:
        return bool(subject.roles & DATA_ROLES) and region_code in subject.region_codes
    return False


def check_visible(subject: Subject, unit_id: int, region_code: str) -> None:
    if not may_see(subject, unit_id, region_code):
        raise Forbidden()


def require_unit_operator(subject: Subject) -> int:
    """The caller's unit; refuses anyone but a unit operator."""
    if subject.kind is not SubjectKind.UNIT_OPERATOR or subject.unit_id is None:
        raise NotPermitted("只有单位经办人可以办理单位申报")
    return subject.unit_id


def require_reviewer(subject: Subject) -> None:
    if not subject.has_role(StaffRole.REVIEWER):
        raise NotPermitted("只有经办机构审核人员可以审核申报")


def require_staff_reader(subject: Subject) -> None:
    if subject.kind is not SubjectKind.STAFF or not subject.roles & DATA_ROLES:
        raise NotPermitted("只有经办机构工作人员可以查看审核工作台")


def require_maintainer(subject: Subject) -> None:
    if subject.kind is not SubjectKind.STAFF or not subject.roles & MAINTAINER_ROLES:
        raise NotPermitted("只有经办机构工作人员或系统管理员可以维护工作日历")


def require_admin(subject: Subject) -> None:
    if not subject.has_role(StaffRole.SYSTEM_ADMIN):
        raise NotPermitted("只有系统管理员可以修改办理时限和自动审核规则")
