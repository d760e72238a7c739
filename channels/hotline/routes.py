"""12333 hotline (IVR) API under ``/hotline/v1``: the hotline system authenticates as its own client; a
caller keys the ID number (``*`` for X) and the query PIN; each answer is Chinese text written as it is
spoken, followed by the menu. One session per call (``X-Hotline-Call``), ended when the call ends.
"""

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from channels.errors import CHANNEL_RESPONSES, PRINTABLE, ChannelRefused, DeviceRefused
from channels.hotline import speech
from channels.reads import Authenticate, ReadOpener
from channels.sessions import ChannelSessions, SessionEnded
from hub.access.subject import Channel, Subject, SubjectKind
from hub.identity import pins
from hub.identity.errors import IdentityError
from hub.persons import service as persons
from hub.persons.cards import card_status_label
from hub.rules.period import Period

CALL_HEADER = "X-Hotline-Call"
GREETING = "身份验证成功。"


class Item(StrEnum):
    BALANCE = "balance"
    LAST_CONTRIBUTION = "last-contribution"
    LAST_PAYMENT = "last-payment"
    CARD = "card"


class CallStart(BaseModel):
    keyed_id_number: str = Field(
        min_length=15, max_length=20, pattern=r"^[0-9*#]+$", description="按键输入的身份证号，X 按 *"
    )
    pin: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")
    line: str | None = Field(None, max_length=20, pattern=PRINTABLE, description="来电号码（仅以密钥散列参与锁定计数）")


class Spoken(BaseModel):
    text: str = Field(description="按口语书写的答复，可直接朗读")
    menu: str


class CallOpened(Spoken):
    call: str = Field(description=f"放入请求头 {CALL_HEADER}")


def router(authenticate: Authenticate, open_read: ReadOpener, sessions_of: Any) -> APIRouter:
    r = APIRouter(prefix="/hotline/v1", tags=["12333热线"], responses=CHANNEL_RESPONSES)

    async def system(request: Request) -> Subject:
        subject = await authenticate(request)
        if subject.kind is not SubjectKind.CLIENT or subject.channel is not Channel.HOTLINE:
            raise DeviceRefused("仅限12333热线系统调用")
        return subject

    System = Annotated[Subject, Depends(system)]

    def calls(request: Request) -> ChannelSessions:
        found: ChannelSessions = sessions_of(request.app)
        return found

    async def caller(request: Request, line: System, token: Annotated[str, Header(alias=CALL_HEADER)] = "") -> Subject:
        return await run_in_threadpool(calls(request).resolve, token, line)

    Caller = Annotated[Subject, Depends(caller)]

    @r.post("/calls", summary="按键身份证号 + 查询密码开始通话会话", response_model=CallOpened)
    async def start(request: Request, line: System, body: CallStart) -> CallOpened:
        rt = request.app.state.identity

        def work() -> Subject:
            with rt.hub() as conn:
                return pins.hotline_session(
                    conn,
                    rt.cfg,
                    line,
                    keyed_id_number=body.keyed_id_number,
                    pin=body.pin,
                    now=rt.clock(),
                    line=body.line,
                )

        try:
            who = await run_in_threadpool(work)
        except IdentityError as exc:
            raise ChannelRefused(exc) from None
        return CallOpened(call=calls(request).open(who, line), text=GREETING, menu=speech.MENU)

    @r.get("/calls/current/{item}", summary="查询一项并以口语答复", response_model=Spoken)
    async def ask(request: Request, who: Caller, item: Item) -> Spoken:
        if who.person_id is None:
            raise SessionEnded()
        pid = who.person_id
        async with open_read(request, who) as ctx:
            if item is Item.BALANCE:
                years = (await persons.list_accounts(ctx, pid, "BASIC")).data
                latest = max(years, key=lambda y: y.year, default=None)
                text = (
                    speech.balance_reply("基本养老保险个人账户", latest.year, latest.closing)
                    if latest is not None and latest.closing is not None
                    else speech.no_record_reply("个人账户")
                )
            elif item is Item.LAST_CONTRIBUTION:
                rows = (await persons.list_contributions(ctx, pid, limit=1)).data
                c = rows[0] if rows else None
                text = (
                    speech.contribution_reply(
                        Period(c.period // 100, c.period % 100), c.base, c.personal_amount, c.unit_amount
                    )
                    if c
                    and c.period
                    and c.base is not None
                    and c.personal_amount is not None
                    and c.unit_amount is not None
                    else speech.no_record_reply("缴费")
                )
            elif item is Item.LAST_PAYMENT:
                pays = (await persons.list_payments(ctx, pid)).data
                p = max(pays, key=lambda x: x.period, default=None)
                text = (
                    speech.payment_reply(Period(p.period // 100, p.period % 100), p.amount, p.paid_on)
                    if p is not None and p.amount is not None
                    else speech.no_record_reply("养老金发放")
                )
            else:
                card = (await persons.get_card(ctx, pid)).data
                text = (
                    speech.card_reply(card_status_label(card.status), card.issued_on)
                    if card is not None
                    else speech.no_record_reply("社会保障卡")
                )
        return Spoken(text=text, menu=speech.MENU)

    @r.delete("/calls/current", summary="通话结束", response_model=Spoken)
    async def hang_up(request: Request, line: System, token: Annotated[str, Header(alias=CALL_HEADER)] = "") -> Spoken:
        await run_in_threadpool(calls(request).end, token, line)
        return Spoken(text="感谢您的来电，再见。", menu="")

    return r
