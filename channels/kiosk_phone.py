"""手机号码找回 at a self-service kiosk (``/kiosk/v1``): a person whose mobile number is lost or changed sets
a new one, confirmed by an SMS code sent to the new number, and the change goes to the core.

The person is identified either by a kiosk session opened with the 社会保障卡 and the query PIN (not one
opened with an SMS code: that phone may be the lost one), or by the ID card the kiosk read plus the
kiosk's face check (``hub.persons.face_check``, installed as ``app.state.face_check``; without one this
way is refused). Every step is audited; the request shows under the person's 办理进度.
"""

import base64
import binascii
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.errors import ALNUM, CHANNEL_RESPONSES, DeviceRefused
from channels.phone_recovery import PhoneCodeConfirm, PhoneCodeSent
from channels.sessions import ChannelSessions, SessionEnded
from hub import pg
from hub.access.subject import Channel, Subject, SubjectKind
from hub.errors import TYPE_BASE, HubError, ServiceUnavailable, ValidationFailed
from hub.http.problem import PROBLEM_JSON, Problem
from hub.identity.codes import SentCode
from hub.persons import requests as pr
from hub.persons.face_check import FaceCheck, FaceResult
from hub.persons.requests import Actor, IdentityCheck, Purpose

SESSION_HEADER = "X-Kiosk-Session"
MAX_SAMPLE_BYTES = 512 * 1024

# The confirmation answers 409 when its request number was already used for other content.
REUSED_KEY: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "办理请求编号已用于其他内容", "content": {PROBLEM_JSON: {}}}
}


class NewPhone(BaseModel):
    phone: str = Field(min_length=11, max_length=11, pattern=r"^\d{11}$", description="新手机号码")


class IdCardPhone(NewPhone):
    document_type: str = Field("01", max_length=4, pattern=ALNUM, description="读卡器读出的证件类型")
    document_number: str = Field(min_length=6, max_length=30, pattern=ALNUM, description="读卡器读出的证件号码")
    face_sample: str = Field(min_length=4, max_length=800_000, description="人脸核验采集的样本（Base64）")


class Submitted(BaseModel):
    request_id: int
    reference: str
    status: str = Field(description="submitted / sent / applied / failed")
    status_label: str


class FaceCheckFailed(HubError):
    type = TYPE_BASE + "face-check-failed"
    title = "人脸核验未通过"
    status = 403
    default_detail = "人脸核验未通过，请调整姿势后重试，或携带身份证到经办机构窗口办理"


def submitted(item: pr.PersonRequest) -> Submitted:
    return Submitted(request_id=item.id, reference=item.reference, status=item.status.value,
                     status_label=item.status_label)  # fmt: skip


def router(authenticate: Any, sessions_of: Any) -> APIRouter:
    r = APIRouter(prefix="/kiosk/v1", tags=["自助终端"], responses=CHANNEL_RESPONSES)

    async def device(request: Request) -> Subject:
        subject: Subject = await authenticate(request)
        if subject.kind is not SubjectKind.CLIENT or subject.channel is not Channel.KIOSK:
            raise DeviceRefused("仅限已登记的自助终端调用")
        return subject

    Device = Annotated[Subject, Depends(device)]

    async def card_person(
        request: Request, kiosk: Device, token: Annotated[str, Header(alias=SESSION_HEADER)] = ""
    ) -> Subject:
        store: ChannelSessions = sessions_of(request.app)
        who = await run_in_threadpool(store.resolve, token, kiosk)
        if who.person_id is None:
            raise SessionEnded()
        if "card" not in who.auth_methods:
            raise ValidationFailed("找回手机号码请插入社会保障卡并输入查询密码，或读取身份证并完成人脸核验")
        return who

    CardPerson = Annotated[Subject, Depends(card_person)]

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

    def ip(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    def sent(code: SentCode) -> PhoneCodeSent:
        return PhoneCodeSent(ticket=code.ticket, phone_masked=code.phone_masked, expires_at=code.expires_at)

    @r.post(
        "/me/phone/code",
        summary="找回手机号码：向新号码发送验证码（社保卡 + 查询密码会话）",
        response_model=PhoneCodeSent,
    )
    async def card_code(request: Request, kiosk: Device, who: CardPerson, body: NewPhone) -> PhoneCodeSent:
        rt = request.app.state.identity
        return sent(
            await run(
                request,
                lambda conn: pr.start_kiosk_recovery(
                    conn, None, rt.redis, rt.cfg, kiosk, check=IdentityCheck.KIOSK_CARD_PIN, phone=body.phone,
                    ip=ip(request), now=rt.clock(), person_id=who.person_id,
                ),
            )
        )  # fmt: skip

    @r.post(
        "/me/phone",
        summary="找回手机号码：核对验证码并提交（社保卡 + 查询密码会话）",
        response_model=Submitted,
        responses=REUSED_KEY,
    )
    async def card_confirm(request: Request, kiosk: Device, who: CardPerson, body: PhoneCodeConfirm) -> Submitted:
        rt = request.app.state.identity
        actor = Actor(SubjectKind.PERSON.value, who.account_id, kiosk.client_id, Channel.KIOSK.value)
        return submitted(
            await run(
                request,
                lambda conn: pr.recover_phone(
                    conn, rt.cfg, actor, purpose=Purpose.RECOVERY_KIOSK, by=kiosk.client_id, ticket=body.ticket,
                    code=body.code, idempotency_key=body.idempotency_key, now=rt.clock(), person_id=who.person_id,
                ),
            )
        )  # fmt: skip

    @r.post(
        "/phone-recovery/id-card",
        summary="找回手机号码：读取身份证 + 人脸核验后向新号码发送验证码",
        response_model=PhoneCodeSent,
    )
    async def id_card_code(request: Request, kiosk: Device, body: IdCardPhone) -> PhoneCodeSent:
        checker: FaceCheck | None = getattr(request.app.state, "face_check", None)
        if checker is None:
            raise ServiceUnavailable("本终端暂不支持人脸核验，请插入社会保障卡并输入查询密码办理")
        try:
            sample = base64.b64decode(body.face_sample, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("人脸核验样本格式不正确") from None
        if not sample or len(sample) > MAX_SAMPLE_BYTES:
            raise ValidationFailed("人脸核验样本格式不正确")
        result: FaceResult = await run_in_threadpool(checker.check, body.document_type, body.document_number, sample)
        rt = request.app.state.identity
        if not result.passed:
            raise FaceCheckFailed()
        return sent(
            await run(
                request,
                lambda conn, core: pr.start_kiosk_recovery(
                    conn, core, rt.redis, rt.cfg, kiosk, check=IdentityCheck.KIOSK_ID_CARD_FACE, phone=body.phone,
                    ip=ip(request), now=rt.clock(), document_type=body.document_type,
                    document_number=body.document_number,
                ),
                core=True,
            )
        )  # fmt: skip

    @r.post(
        "/phone-recovery/id-card/verify",
        summary="找回手机号码：核对验证码并提交（身份证 + 人脸核验）",
        response_model=Submitted,
        responses=REUSED_KEY,
    )
    async def id_card_confirm(request: Request, kiosk: Device, body: PhoneCodeConfirm) -> Submitted:
        rt = request.app.state.identity
        actor = Actor(SubjectKind.CLIENT.value, kiosk.client_id, kiosk.client_id, Channel.KIOSK.value)
        return submitted(
            await run(
                request,
                lambda conn: pr.recover_phone(
                    conn, rt.cfg, actor, purpose=Purpose.RECOVERY_KIOSK, by=kiosk.client_id, ticket=body.ticket,
                    code=body.code, idempotency_key=body.idempotency_key, now=rt.clock(),
                ),
            )
        )  # fmt: skip

    return r
