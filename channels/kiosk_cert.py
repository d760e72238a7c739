"""自助终端待遇资格认证 — a retiree certifies at a kiosk inside a card + PIN session (``/kiosk/v1``).

The kiosk authenticates as its own client; the person is the one of the live session the kiosk opened
(``X-Kiosk-Session``). The certification is recorded with the kiosk's client id and audited
(``hub.persons.eligibility.certify_at_kiosk``). The answer is the new state, in plain words for the screen.
"""

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.errors import CHANNEL_RESPONSES, DeviceRefused
from channels.kiosk import SESSION_HEADER
from channels.reads import Authenticate
from channels.sessions import ChannelSessions
from hub import pg
from hub.access.subject import Channel, Subject, SubjectKind
from hub.http.problem import PROBLEM_JSON, Problem
from hub.persons import eligibility


class CertificationRead(BaseModel):
    state: str = Field(description="certified 已认证 / due 待认证 / overdue 逾期")
    state_label: str
    certified_on: date | None = Field(description="本次认证日期")
    valid_until: date = Field(description="认证有效期至")
    message: str = Field(description="终端屏幕上显示的提示")


# Besides the channel's answers: the 统筹区 has no certification parameters in force (CycleMissing).
CERT_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CHANNEL_RESPONSES,
    409: {"model": Problem, "description": "本地区待遇资格认证参数尚未配置", "content": {PROBLEM_JSON: {}}},
}


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def router(authenticate: Authenticate, sessions_of: Any) -> APIRouter:
    """``sessions_of(app) -> ChannelSessions`` of the kiosk (the same store ``channels.kiosk`` opens)."""
    r = APIRouter(prefix="/kiosk/v1", tags=["自助终端"], responses=CERT_RESPONSES)

    async def device(request: Request) -> Subject:
        subject = await authenticate(request)
        if subject.kind is not SubjectKind.CLIENT or subject.channel is not Channel.KIOSK:
            raise DeviceRefused("仅限已登记的自助终端调用")
        return subject

    Device = Annotated[Subject, Depends(device)]

    def run(request: Request, fn: Any) -> Any:
        ep = request.app.state.endpoints

        def work() -> Any:
            with pg.connect(ep.hub_db_url) as hub, pg.connect(ep.query_db_url, autocommit=True) as store:
                out = fn(hub, store)
                hub.commit()
                return out

        return run_in_threadpool(work)

    async def person(request: Request, kiosk: Subject, token: str) -> Subject:
        store: ChannelSessions = sessions_of(request.app)
        return await run_in_threadpool(store.resolve, token, kiosk)

    @r.get("/me/certification", summary="待遇资格认证状态", response_model=CertificationRead)
    async def state(
        request: Request, kiosk: Device, token: Annotated[str, Header(alias=SESSION_HEADER)] = ""
    ) -> CertificationRead:
        who = await person(request, kiosk, token)
        now = request.app.state.identity.clock()
        st = await run(request, lambda hub, store: eligibility.status(hub, store, who.person_id or 0, now))
        return _answer(st, None)

    @r.post("/me/certification", summary="在自助终端完成待遇资格认证", response_model=CertificationRead)
    async def certify(
        request: Request, kiosk: Device, token: Annotated[str, Header(alias=SESSION_HEADER)] = ""
    ) -> CertificationRead:
        who = await person(request, kiosk, token)
        now = request.app.state.identity.clock()

        def work(hub: Any, store: Any) -> tuple[date, eligibility.CertStatus]:
            day = eligibility.certify_at_kiosk(hub, store, who, kiosk, now)
            return day, eligibility.status(hub, store, who.person_id or 0, now)

        day, st = await run(request, work)
        return _answer(st, day)

    return r


def _answer(st: eligibility.CertStatus, certified_on: date | None) -> CertificationRead:
    if certified_on is not None:
        message = f"认证成功。您的认证有效期至{_day(st.valid_until)}。"
    elif st.state is eligibility.CertState.CERTIFIED:
        message = f"您已认证，有效期至{_day(st.valid_until)}。"
    elif st.state is eligibility.CertState.DUE:
        message = f"请于{_day(st.last_day_before_suspension)}前完成认证，逾期将暂停发放养老待遇。"
    else:
        message = "您的养老待遇已因未认证暂停发放，完成认证后将恢复发放。"
    return CertificationRead(
        state=st.state.value,
        state_label=st.state.label,
        certified_on=certified_on,
        valid_until=st.valid_until,
        message=message,
    )
