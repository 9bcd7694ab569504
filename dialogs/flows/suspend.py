"""Voluntary suspension (заморозка): the first day ([с сегодня] [с завтра] or a typed dd.mm), the
length (7 / 14 / 30 days or a typed end date), the quote (free and paid days, the fee) ->
confirm -> booked. While the service is frozen the flow offers [Разморозить] (resume_now, after
a confirmation) instead; my_services offers the same button."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import ClassVar

from backend.billing import suspensions
from backend.billing.action_schemas import SuspensionOut
from backend.billing.errors import (
    FreezeInPast,
    FreezeInvalidDates,
    FreezeStartTooFar,
    FreezeTooLong,
    FreezeTooShort,
)
from backend.db import savepoint
from backend.errors import AppError
from backend.models import SuspensionStatus
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import (
    YES,
    Flow,
    customer_actor,
    is_no,
    is_yes,
    menu_row,
    nav_row,
    refusal,
    refusal_text,
    say,
)
from dialogs.state import FlowState
from dialogs.types import Outbound

NAME = "suspend_service"
FROM = "from"  # not "start": that step name starts a flow from any button
LENGTH = "length"
CONFIRM = "confirm"
FROZEN = "frozen"
RESUME = "resume"
PRESET_DAYS = (7, 14, 30)
_DATE = re.compile(r"^\s*(\d{1,2})[./-](\d{1,2})(?:[./-](\d{2}|\d{4}))?\s*$")
# refusals the customer fixes by choosing other dates: ask again at that step
_REASK_FROM = frozenset({FreezeInPast.code, FreezeStartTooFar.code})
_REASK_LENGTH = frozenset({FreezeTooShort.code, FreezeTooLong.code, FreezeInvalidDates.code})


def parse_day(text: str | None, today: date) -> date | None:
    """ "05.12", "5/12", "05.12.2025": the nearest such day from today on."""
    match = _DATE.match(text or "")
    if not match:
        return None
    day, month, year = int(match.group(1)), int(match.group(2)), match.group(3)
    try:
        if year:
            return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
        found = date(today.year, month, day)
        return found if found >= today else date(today.year + 1, month, day)
    except ValueError:
        return None


class SuspendFlow(Flow):
    name = NAME
    intents: ClassVar[frozenset[str]] = frozenset({"suspend_service"})
    needs_customer = True
    menu_label = "dialogs-freeze-menu"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        active = await self._active(ctx)
        if active is not None:
            state.start(self.name, FROZEN, {"suspension_id": active.id})
            if turn.arg == RESUME:
                state.goto(RESUME)
            return await self.ask(ctx, state)
        state.start(self.name, FROM)
        return await self.ask(ctx, state)

    async def _active(self, ctx: TurnContext) -> SuspensionOut | None:
        assert ctx.customer_id is not None
        found = await suspensions.list_for_customer(
            ctx.session, ctx.settings, ctx.customer_id, ctx.today
        )
        return next((s for s in found.items if s.status is SuspensionStatus.active), None)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        s = state.slots
        if state.step == FROZEN:
            active = await self._active(ctx)
            if active is None:
                state.finish()
                return [say(ctx.t("dialogs-freeze-not-frozen"), menu_row(ctx))]
            text = ctx.t("dialogs-freeze-frozen", end=ctx.day(active.end_on))
            resume = self.btn(ctx, "dialogs-freeze-resume-button", FROZEN, RESUME)
            return [say(text, (resume,), nav_row(ctx, back=False))]
        if state.step == RESUME:
            ok = self.btn(ctx, "dialogs-freeze-resume-yes", RESUME, YES)
            return [say(ctx.t("dialogs-freeze-resume-ask"), (ok,), nav_row(ctx))]
        if state.step == FROM:
            today = self.btn(ctx, "dialogs-freeze-from-today", FROM, "today")
            tomorrow = self.btn(ctx, "dialogs-freeze-from-tomorrow", FROM, "tomorrow")
            return [
                say(ctx.t("dialogs-freeze-ask-from"), (today, tomorrow), nav_row(ctx, back=False))
            ]
        if state.step == LENGTH:
            presets = tuple(self.btn(ctx, "dialogs-freeze-days", LENGTH, d, days=d)
                            for d in PRESET_DAYS)  # fmt: skip
            text = ctx.t(
                "dialogs-freeze-ask-length", start=ctx.day(date.fromisoformat(s["start_on"]))
            )
            return [say(text, presets, nav_row(ctx))]
        text = ctx.t(
            "dialogs-freeze-quote",
            start=ctx.day(date.fromisoformat(s["start_on"])),
            end=ctx.day(date.fromisoformat(s["end_on"])),
            resume=ctx.day(date.fromisoformat(s["end_on"]) + timedelta(days=1)),
            days=s["days"],
            free=s["free_days"],
            paid=s["paid_days"],
            fee=ctx.major(s["fee_total"]),
            daily=ctx.major(s["daily_fee"]),
        )
        ok = self.btn(ctx, "dialogs-freeze-confirm-button", CONFIRM, YES)
        return [say(text, (ok,), nav_row(ctx))]

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        if is_no(turn):
            state.finish()
            return [say(ctx.t("dialogs-cancelled"), menu_row(ctx))]
        today = ctx.today
        if state.step == FROZEN:
            if turn.arg != RESUME:
                return None
            state.goto(RESUME)
            return await self.ask(ctx, state)
        if state.step == RESUME:
            return await self._resume(ctx, state) if is_yes(turn) else None
        if state.step == FROM:
            start = {"today": today, "tomorrow": today + timedelta(days=1)}.get(turn.arg or "")
            if start is None and turn.button is None:
                start = parse_day(turn.text, today)
            if start is None:
                return None
            state.slots["start_on"] = start.isoformat()
            state.goto(LENGTH)
            return await self.ask(ctx, state)
        if state.step == LENGTH:
            start = date.fromisoformat(state.slots["start_on"])
            end: date | None = None
            if turn.arg and turn.arg.isdigit() and int(turn.arg) in PRESET_DAYS:
                end = start + timedelta(days=int(turn.arg) - 1)
            elif turn.button is None:
                end = parse_day(turn.text, start)
            if end is None:
                return None
            return await self._quote(ctx, state, start, end)
        if state.step == CONFIRM:
            return await self._create(ctx, state) if is_yes(turn) else None
        return None

    async def _quote(
        self, ctx: TurnContext, state: FlowState, start: date, end: date
    ) -> list[Outbound]:
        assert ctx.customer_id is not None
        try:
            q = await suspensions.quote(
                ctx.session, ctx.settings, ctx.customer_id, start, end, ctx.today
            )
        except AppError as error:
            return await self._refused(ctx, state, error)
        state.slots.update(
            end_on=q.end_on.isoformat(), days=q.days, free_days=q.free_days,
            paid_days=q.paid_days, fee_total=q.fee_total, daily_fee=q.daily_fee,
        )  # fmt: skip
        state.goto(CONFIRM)
        return await self.ask(ctx, state)

    async def _refused(self, ctx: TurnContext, state: FlowState, error: AppError) -> list[Outbound]:
        """Dates the customer can fix: the reason and the question again; otherwise the end."""
        step = (
            FROM if error.code in _REASK_FROM else LENGTH if error.code in _REASK_LENGTH else None
        )
        if step is None:
            return refusal(ctx, state, error)
        while state.step != step and state.back():
            pass
        state.step = step
        return [say(refusal_text(ctx, error.code, error.extra)), *await self.ask(ctx, state)]

    async def _create(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        start = date.fromisoformat(state.slots["start_on"])
        end = date.fromisoformat(state.slots["end_on"])
        try:
            async with savepoint(ctx.session):
                made = await suspensions.create(
                    ctx.session, ctx.settings, ctx.customer_id, start, end, ctx.today, ctx.now,
                    customer_actor(),
                )  # fmt: skip
        except AppError as error:
            return refusal(ctx, state, error)
        state.finish()
        args = {"start": ctx.day(made.start_on), "end": ctx.day(made.end_on),
                "resume": ctx.day(made.end_on + timedelta(days=1))}  # fmt: skip
        if made.status is SuspensionStatus.active:
            resume = ctx.button("dialogs-freeze-resume-button", NAME, "start", RESUME)
            return [say(ctx.t("dialogs-freeze-started", **args), (resume,), menu_row(ctx))]
        return [say(ctx.t("dialogs-freeze-scheduled", **args), menu_row(ctx))]

    async def _resume(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        try:
            async with savepoint(ctx.session):
                await suspensions.resume_now(
                    ctx.session, ctx.customer_id, int(state.slots["suspension_id"]), ctx.today,
                    ctx.now, customer_actor(),
                )  # fmt: skip
        except AppError as error:
            return refusal(ctx, state, error)
        state.finish()
        return [say(ctx.t("dialogs-freeze-resumed"), menu_row(ctx))]


def flows() -> list[Flow]:
    return [SuspendFlow()]
