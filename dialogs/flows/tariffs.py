"""Tariffs: the list (speeds and prices, the current one marked, a button per tariff to change to
it) and the tariff change (docs/isp-rules.md, flow 5): choose a target -> the quote ("from 01.12 or
now, paying N for K days") -> confirm -> changed or scheduled. Refusals come with their reason
and next step; a scheduled change can be cancelled (after a confirmation too)."""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Final

from babel.dates import format_skeleton

from backend.billing import repository, tariff_change
from backend.billing import service as billing
from backend.billing.action_schemas import TariffChangeQuote
from backend.billing.errors import NoPendingChange
from backend.db import savepoint
from backend.errors import AppError, error_key
from backend.models import Tariff
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
    say,
)
from dialogs.state import FlowState
from dialogs.types import Button, Outbound, Text, payload

NAME = "change_tariff"
CHOOSE = "choose"
WHEN = "when"
CONFIRM = "confirm"
PENDING = "pending"
CANCEL_PENDING = "cancel_pending"
NOW: Final = "now"
NEXT: Final = "next_period"


def short_day(ctx: TurnContext, value: date) -> str:
    """ "01.12" / "12/01": the compact date of the bot's messages."""
    return format_skeleton("ddMM", value, locale=ctx.locale)


def tariff_line(ctx: TurnContext, tariff: Tariff, *, current: bool) -> str:
    return ctx.t(
        "dialogs-tariff-line",
        name=tariff.name,
        down=tariff.speed_down_mbps,
        up=tariff.speed_up_mbps,
        price=ctx.major(tariff.price),
        period=tariff.billing_period.value,
        current="yes" if current else "no",
    )


def _monthly(tariff: Tariff, ctx: TurnContext) -> int:
    return tariff_change.monthly_price(tariff.price, tariff.billing_period, ctx.today)


def _allowed(ctx: TurnContext, current: Tariff, target: Tariff) -> bool:
    """The targets the change offers (the provider's transition matrix; same currency)."""
    if target.id == current.id or not target.is_active or target.currency != current.currency:
        return False
    matrix = ctx.settings.tariff_transitions
    return not matrix or target.id in matrix.get(str(current.id), [])


def _match(tariffs: list[Tariff], name: Any) -> Tariff | None:
    if not isinstance(name, str) or not name.strip():
        return None
    wanted = name.strip().casefold()
    for tariff in tariffs:
        if tariff.name.casefold() == wanted:
            return tariff
    return None


class ListTariffsFlow(Flow):
    name = "list_tariffs"
    intents: ClassVar[frozenset[str]] = frozenset({"list_tariffs"})

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        tariffs = await billing.list_tariffs(ctx.session)
        if not tariffs:
            return [say(ctx.t("dialogs-tariff-none"), menu_row(ctx))]
        current: Tariff | None = None
        if ctx.customer_id is not None:
            found = await repository.current_subscription(ctx.session, ctx.customer_id)
            current = found[1] if found else None
        lines = [ctx.t("dialogs-tariff-list-title")]
        lines += [tariff_line(ctx, t, current=current is not None and t.id == current.id)
                  for t in tariffs]  # fmt: skip
        rows: list[tuple[Button, ...]] = []
        if current is not None:
            for tariff in tariffs:
                if _allowed(ctx, current, tariff):
                    rows.append(
                        (
                            ctx.button(
                                "dialogs-tariff-switch-to",
                                NAME,
                                "start",
                                tariff.id,
                                name=tariff.name,
                            ),
                        )
                    )
        return [say("\n".join(lines), *rows, menu_row(ctx))]


class ChangeTariffFlow(Flow):
    name = NAME
    intents: ClassVar[frozenset[str]] = frozenset({"change_tariff"})
    needs_customer = True
    menu_label = "dialogs-tariff-menu"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        assert ctx.customer_id is not None
        found = await repository.current_subscription(ctx.session, ctx.customer_id)
        if found is None:
            state.finish()
            return [say(ctx.t("dialogs-billing-no-subscription"), menu_row(ctx))]
        sub, _ = found
        if sub.scheduled_tariff_id is not None:
            state.start(self.name, PENDING)
            if turn.arg == "cancel":
                state.goto(CANCEL_PENDING)
            return await self.ask(ctx, state)
        state.start(self.name, CHOOSE)
        target: Tariff | None = None
        if turn.arg and turn.arg.isdigit():
            target = await repository.tariff_by_id(ctx.session, int(turn.arg))
        elif turn.button is None:
            target = _match(
                await billing.list_tariffs(ctx.session), turn.intent.entities.get("tariff")
            )
        if target is not None:
            return await self._quote(ctx, state, target.id)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        if state.step in (PENDING, CANCEL_PENDING):
            return await self._ask_pending(ctx, state)
        if state.step == WHEN:
            s = state.slots
            text = ctx.t(
                "dialogs-tariff-when",
                name=s["name"],
                date=s["next_short"],
                amount=ctx.major(s["total_now"]),
                days=s["days"],
            )
            later = self.btn(ctx, "dialogs-tariff-when-next", WHEN, NEXT, date=s["next_day"])
            now = self.btn(ctx, "dialogs-tariff-when-now", WHEN, NOW)
            return [say(text, (later, now), nav_row(ctx))]
        if state.step == CONFIRM:
            return [self._ask_confirm(ctx, state)]
        found = await repository.current_subscription(ctx.session, ctx.customer_id)
        if found is None:
            state.finish()
            return [say(ctx.t("dialogs-billing-no-subscription"), menu_row(ctx))]
        _, current = found
        targets = [t for t in await billing.list_tariffs(ctx.session) if _allowed(ctx, current, t)]
        if not targets:
            state.finish()
            return [say(ctx.t("dialogs-tariff-no-targets", name=current.name), menu_row(ctx))]
        rows = []
        for tariff in targets:
            diff = _monthly(tariff, ctx) - _monthly(current, ctx)
            label = ctx.t(
                "dialogs-tariff-target",
                name=tariff.name,
                price=ctx.major(_monthly(tariff, ctx)),
                diff=ctx.major(abs(diff)),
                sign="+" if diff > 0 else "−" if diff < 0 else "±",
            )
            rows.append((Button(label=label, payload=payload(NAME, CHOOSE, tariff.id)),))
        text = ctx.t(
            "dialogs-tariff-choose",
            name=current.name,
            price=ctx.major(_monthly(current, ctx)),
            down=current.speed_down_mbps,
        )
        return [say(text, *rows, nav_row(ctx, back=False))]

    def _ask_confirm(self, ctx: TurnContext, state: FlowState) -> Text:
        s = state.slots
        if s["effective"] == NOW:
            text = ctx.t(
                "dialogs-tariff-confirm-now",
                name=s["name"],
                amount=ctx.major(s["total_now"]),
                price=ctx.major(s["monthly"]),
            )
        else:
            text = ctx.t(
                "dialogs-tariff-confirm-next",
                name=s["name"],
                date=s["next_day"],
                price=ctx.major(s["monthly"]),
                fee=ctx.major(s["fee"]),
                free="no" if s["fee"] else "yes",
            )
        ok = self.btn(ctx, "dialogs-tariff-confirm-button", CONFIRM, YES)
        return say(text, (ok,), nav_row(ctx))

    async def _ask_pending(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        found = await repository.current_subscription(ctx.session, ctx.customer_id)
        sub = found[0] if found else None
        if sub is None or sub.scheduled_tariff_id is None or sub.scheduled_change_on is None:
            state.finish()
            return [say(ctx.t(error_key(NoPendingChange.code)), menu_row(ctx))]
        target = await repository.tariff_by_id(ctx.session, sub.scheduled_tariff_id)
        args = {"name": target.name if target else "", "date": ctx.day(sub.scheduled_change_on)}
        if state.step == CANCEL_PENDING:
            ok = self.btn(ctx, "dialogs-tariff-cancel-pending-yes", CANCEL_PENDING, YES)
            return [say(ctx.t("dialogs-tariff-cancel-pending-ask", **args), (ok,), nav_row(ctx))]
        cancel = self.btn(ctx, "dialogs-tariff-cancel-pending", PENDING, "cancel")
        return [say(ctx.t("dialogs-tariff-pending", **args), (cancel,), nav_row(ctx, back=False))]

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        assert ctx.customer_id is not None
        if is_no(turn):
            state.finish()
            return [say(ctx.t("dialogs-cancelled"), menu_row(ctx))]
        if state.step == PENDING:
            if turn.arg == "cancel":
                state.goto(CANCEL_PENDING)
                return await self.ask(ctx, state)
            return None
        if state.step == CANCEL_PENDING:
            if not is_yes(turn):
                return None
            try:
                async with savepoint(ctx.session):
                    done = await tariff_change.cancel_scheduled(
                        ctx.session, ctx.customer_id, ctx.now, customer_actor()
                    )
            except AppError as error:
                return refusal(ctx, state, error)
            state.finish()
            target = await repository.tariff_by_id(ctx.session, done.cancelled_tariff_id)
            choose = self.btn(ctx, "dialogs-tariff-menu", "start")
            text = ctx.t("dialogs-tariff-pending-cancelled", name=target.name if target else "")
            return [say(text, (choose,), menu_row(ctx))]
        if state.step == CHOOSE:
            if turn.arg and turn.arg.isdigit():
                return await self._quote(ctx, state, int(turn.arg))
            if turn.button is None:
                tariffs = await billing.list_tariffs(ctx.session)
                target = _match(tariffs, turn.intent.entities.get("tariff")) or _match(
                    tariffs, turn.text
                )
                if target is not None:
                    return await self._quote(ctx, state, target.id)
            return None
        if state.step == WHEN:
            if turn.arg not in (NOW, NEXT):
                return None
            if turn.arg == NEXT:
                try:
                    q = await tariff_change.quote(
                        ctx.session, ctx.settings, ctx.customer_id, state.slots["tariff_id"],
                        ctx.today, NEXT,
                    )  # fmt: skip
                except AppError as error:
                    return refusal(ctx, state, error)
                state.slots.update(self._slots(ctx, q))
            state.slots["effective"] = turn.arg
            state.goto(CONFIRM)
            return await self.ask(ctx, state)
        if state.step == CONFIRM:
            if not is_yes(turn):
                return None
            return await self._confirm(ctx, state)
        return None

    def _slots(self, ctx: TurnContext, q: TariffChangeQuote) -> dict[str, Any]:
        return {
            "tariff_id": q.target.id,
            "name": q.target.name,
            "effective": q.effective,
            "total_now": q.total_now,
            "days": q.days_remaining,
            "monthly": q.new_monthly_price,
            "fee": q.fee,
            "next_day": ctx.day(q.next_period_on),
            "next_short": short_day(ctx, q.next_period_on),
        }

    async def _quote(self, ctx: TurnContext, state: FlowState, tariff_id: int) -> list[Outbound]:
        assert ctx.customer_id is not None
        try:
            q = await tariff_change.quote(
                ctx.session, ctx.settings, ctx.customer_id, tariff_id, ctx.today
            )
        except AppError as error:
            return refusal(ctx, state, error)
        state.slots.update(self._slots(ctx, q))
        # An upgrade may start now (with the proration) or with the next period; any other
        # change waits for the next period, so there is nothing to choose.
        state.goto(WHEN if q.can_choose else CONFIRM)
        return await self.ask(ctx, state)

    async def _confirm(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        try:
            async with savepoint(ctx.session):
                result = await tariff_change.confirm(
                    ctx.session, ctx.settings, ctx.customer_id, state.slots["tariff_id"],
                    ctx.today, ctx.now, customer_actor(), state.slots["effective"],
                )  # fmt: skip
        except AppError as error:
            return refusal(ctx, state, error)
        state.finish()
        name = result.quote.target.name
        if result.status == "changed":
            text = ctx.t("dialogs-tariff-changed", name=name, amount=ctx.major(result.charged))
            return [say(text, menu_row(ctx))]
        on = result.scheduled_change_on or result.quote.effective_on
        cancel = ctx.button("dialogs-tariff-cancel-pending", NAME, "start", "cancel")
        text = ctx.t("dialogs-tariff-scheduled", name=name, date=short_day(ctx, on))
        return [say(text, (cancel,), menu_row(ctx))]


def flows() -> list[Flow]:
    return [ListTariffsFlow(), ChangeTariffFlow()]
