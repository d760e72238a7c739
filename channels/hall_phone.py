"""手机号码找回 at a hall counter (``/hall/v1``): the person is present with the ID card, so nothing is sent
to the lost phone. The staff member checks the ID card (the counter's reader, or by inspection) and
records how; the person chooses a new mobile number and reads out the SMS code sent to it; the change
goes to the core. The request, its history and every audit record name the staff member.
"""

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.errors import ALNUM, CHANNEL_RESPONSES, DeviceRefused
from channels.phone_recovery import PhoneCodeConfirm, PhoneCodeSent
from hub import pg
from hub.access.rules import DATA_ROLES
from hub.access.subject import Channel, Subject, SubjectKind
from hub.http.problem import PROBLEM_JSON, Problem
from hub.persons import requests as pr
from hub.persons.requests import Actor, IdentityCheck, Purpose

# The confirmation answers 409 when its request number was already used for other content.
REUSED_KEY: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "办理请求编号已用于其他内容", "content": {PROBLEM_JSON: {}}}
}


class RecoveryStart(BaseModel):
    document_type: str = Field("01", max_length=4, pattern=ALNUM, description="参保人证件类型")
    document_number: str = Field(min_length=6, max_length=30, pattern=ALNUM, description="参保人证件号码")
    id_card_check: IdentityCheck = Field(
        description="核验身份证件的方式：hall_id_card_reader（读卡器读取并比对本人）"
        "或 hall_id_card_visual（人工核验原件）"
    )
    phone: str = Field(min_length=11, max_length=11, pattern=r"^\d{11}$", description="参保人的新手机号码")


class Submitted(BaseModel):
    request_id: int
    reference: str
    person_id: int
    status: str = Field(description="submitted / sent / applied / failed")
    status_label: str


def router(authenticate: Any) -> APIRouter:
    r = APIRouter(prefix="/hall/v1", tags=["大厅服务"], responses=CHANNEL_RESPONSES)

    async def staff_member(request: Request) -> Subject:
        subject: Subject = await authenticate(request)
        if subject.kind is not SubjectKind.STAFF or not subject.roles & DATA_ROLES:
            raise DeviceRefused("仅限经办或复核岗位的工作人员使用")
        return subject

    Staff = Annotated[Subject, Depends(staff_member)]

    def actor(staff: Subject) -> Actor:
        return Actor(SubjectKind.STAFF.value, staff.account_id, staff.client_id, Channel.HALL.value)

    def run(request: Request, work: Any, *, core: bool = False) -> Any:
        rt = request.app.state.identity

        def inner() -> Any:
            with pg.connect(request.app.state.endpoints.hub_db_url) as conn:
                if core:
                    with rt.core() as core_conn:
                        result = work(conn, core_conn)
                else:
                    result = work(conn)
                conn.commit()
                return result

        return run_in_threadpool(inner)

    @r.post("/phone-recovery", summary="找回手机号码：核验身份证后向新号码发送验证码", response_model=PhoneCodeSent)
    async def start(request: Request, staff: Staff, body: RecoveryStart) -> PhoneCodeSent:
        rt = request.app.state.identity
        at_counter = replace(staff, channel=Channel.HALL)
        code = await run(
            request,
            lambda conn, core: pr.start_hall_recovery(
                conn, core, rt.redis, rt.cfg, at_counter, document_type=body.document_type,
                document_number=body.document_number, check=body.id_card_check, phone=body.phone,
                ip=request.client.host if request.client else "unknown", now=rt.clock(),
            ),
            core=True,
        )  # fmt: skip
        return PhoneCodeSent(ticket=code.ticket, phone_masked=code.phone_masked, expires_at=code.expires_at)

    @r.post(
        "/phone-recovery/verify",
        summary="找回手机号码：核对新号码验证码并提交",
        response_model=Submitted,
        responses=REUSED_KEY,
    )
    async def confirm(request: Request, staff: Staff, body: PhoneCodeConfirm) -> Submitted:
        rt = request.app.state.identity
        item: pr.PersonRequest = await run(
            request,
            lambda conn: pr.recover_phone(
                conn, rt.cfg, actor(staff), purpose=Purpose.RECOVERY_HALL, by=staff.account_id, ticket=body.ticket,
                code=body.code, idempotency_key=body.idempotency_key, now=rt.clock(),
            ),
        )  # fmt: skip
        return Submitted(request_id=item.id, reference=item.reference, person_id=item.person_id,
                         status=item.status.value, status_label=item.status_label)  # fmt: skip

    return r
