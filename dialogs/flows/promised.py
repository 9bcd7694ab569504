"""Promised payment (isp-product.md flow 3): the terms ("Доступ на 3 дня: ...") with [Подключить]
[Отмена]; a refusal gives the exact reason and its next step (pay N first -> a top-up button for
that amount); the confirmation takes it and says when the internet is back.

Also the helpers every billing flow uses to answer a refusal: the `error-<code>` text of the
catalogs with the error's extras, and the button of the next step."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton

from backend.audit.service import Actor
from backend.billing import promised
from backend.errors import AppError
from backend.i18n import catalog
from backend.models import Role
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, menu_row, nav_row, say
from dialogs.state import FlowState
from dialogs.types import Button, Outbound

CONFIRM = "confirm"
YES = "yes"

# --- shared by the billing flows --------------------------------------------------------------


def customer_actor() -> Actor:
    """The customer acting through the bot (the conversation, not a login, identifies them)."""
    return Actor(user_id=None, role=Role.customer)


def short_day(ctx: TurnContext, value: date) -> str:
    """ "01.12" / "12/01": the compact date of isp-product.md's messages."""
    return format_skeleton("ddMM", value, locale=ctx.locale)


def moment(ctx: TurnContext, value: datetime) -> str:
    """ "21 сентября, 14:00" in the provider's time zone. (TurnContext.moment's skeleton is
    missing from babel's data for ru/en and raises; reported to the lead.)"""
    local = value.astimezone(ZoneInfo(ctx.settings.billing_timezone))
    return f"{ctx.day(local.date())}, {local:%H:%M}"


def when(ctx: TurnContext, value: Any) -> str:
    if isinstance(value, datetime):
        return moment(ctx, value)
    if isinstance(value, date):
        return ctx.day(value)
    return str(value)


def is_yes(turn: TurnInput) -> bool:
    return (turn.button is not None and turn.arg == YES) or (
        turn.button is None and turn.intent.name == "affirm" and turn.intent.confidence >= 0.5
    )


def is_no(turn: TurnInput) -> bool:
    return turn.button is None and turn.intent.name == "deny" and turn.intent.confidence >= 0.5


def refusal_text(ctx: TurnContext, code: str, extra: dict[str, Any]) -> str:
    """`error-<code>` with the extras the catalogs expect ($amount, $date, $days)."""
    key = "error-" + code.replace("_", "-")
    if not catalog().has(key, ctx.locale):
        return ctx.t("dialogs-billing-refused")
    args: dict[str, Any] = {"amount": ctx.major(int(extra.get("amount_to_pay") or 0))}
    for name in ("available_from", "latest_start_on", "promised_payment_expires_at"):
        if extra.get(name) is not None:
            args["date"] = when(ctx, extra[name])
    days = extra.get("min_days", extra.get("max_days"))
    if days is not None:
        args["days"] = int(days)
    return ctx.t(key, **args)


def next_step(ctx: TurnContext, code: str, extra: dict[str, Any]) -> tuple[Button, ...]:
    """The button that removes the refusal, when there is one."""
    amount = int(extra.get("amount_to_pay") or 0)
    if amount > 0:
        return (top_up_button(ctx, amount),)
    if code == "subscription_suspended":
        return (ctx.button("dialogs-freeze-resume-button", "suspend_service", "start", "resume"),)
    if code == "pending_change_exists":
        return (ctx.button("dialogs-tariff-cancel-pending", "change_tariff", "start", "cancel"),)
    if code in ("locked_during_promised_payment", "freeze_negative_balance", "pp_active"):
        return (ctx.button("dialogs-menu-top-up", "top_up", "start"),)
    if code == "no_subscription":
        return (ctx.button("dialogs-button-agent", "nav", "agent"),)
    return ()


def top_up_button(ctx: TurnContext, amount: int) -> Button:
    """Starts the top_up flow for `amount` (minor units) from anywhere."""
    return ctx.button(
        "dialogs-billing-pay-amount", "top_up", "start", amount, amount=ctx.major(amount)
    )


def refusal(ctx: TurnContext, state: FlowState, error: AppError) -> list[Outbound]:
    return refused(ctx, state, error.code, error.extra)


def refused(ctx: TurnContext, state: FlowState, code: str, extra: dict[str, Any]) -> list[Outbound]:
    """The refusal and its next step; the flow is over."""
    state.finish()
    return [say(refusal_text(ctx, code, extra), next_step(ctx, code, extra), menu_row(ctx))]


# --- the flow ---------------------------------------------------------------------------------


class PromisedPaymentFlow(Flow):
    name = "promised_payment"
    intents: ClassVar[frozenset[str]] = frozenset({"promised_payment"})
    needs_customer = True
    menu_label = "dialogs-pp-menu"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        assert ctx.customer_id is not None
        terms = await promised.terms(ctx.session, ctx.settings, ctx.customer_id, ctx.now)
        if not terms.allowed:
            extra = {"amount_to_pay": terms.amount_to_pay, "available_from": terms.available_from}
            return refused(ctx, state, terms.reason or "pp_refused", extra)
        state.start(self.name, CONFIRM)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        terms = await promised.terms(ctx.session, ctx.settings, ctx.customer_id, ctx.now)
        if not terms.allowed or terms.amount is None or terms.expires_at is None:
            state.finish()
            return [say(ctx.t("dialogs-billing-refused"), menu_row(ctx))]
        text = ctx.t(
            "dialogs-pp-terms",
            days=terms.term_days or 0,
            debt=ctx.major(terms.debt or 0),
            daily=ctx.major(terms.daily_cost or 0),
            amount=ctx.major(terms.amount),
            fee=ctx.major(terms.fee or 0),
            free="no" if terms.fee else "yes",
            until=moment(ctx, terms.expires_at),
            per30=ctx.settings.pp_max_per_30_days,
        )
        take = self.btn(ctx, "dialogs-pp-take", CONFIRM, YES)
        return [say(text, (take, *nav_row(ctx, back=False)))]

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        if is_no(turn):
            state.finish()
            return [say(ctx.t("dialogs-cancelled"), menu_row(ctx))]
        if state.step != CONFIRM or not is_yes(turn):
            return None
        assert ctx.customer_id is not None
        try:
            # a savepoint: a refusal found under the lock leaves nothing half-done
            async with ctx.session.begin_nested():
                taken = await promised.take(
                    ctx.session, ctx.settings, ctx.customer_id, ctx.now, customer_actor()
                )
        except AppError as error:
            return refusal(ctx, state, error)
        state.finish()
        pp = taken.promised_payment
        key = "dialogs-pp-done-restored" if taken.restored_subscriptions else "dialogs-pp-done"
        text = ctx.t(
            key,
            amount=ctx.major(pp.amount + pp.fee),
            until=moment(ctx, pp.expires_at),
            balance=ctx.major(taken.balance),
        )
        return [say(text, menu_row(ctx))]


def flows() -> list[Flow]:
    return [PromisedPaymentFlow()]
