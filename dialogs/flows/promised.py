"""Promised payment (docs/isp-rules.md): the terms ("Доступ на 3 дня: ...") with [Подключить]
[Отмена]; a refusal gives the exact reason and its next step (pay N first -> a top-up button for
that amount); the confirmation takes it and says when the internet is back."""

from __future__ import annotations

from typing import ClassVar

from backend.billing import promised
from backend.billing.errors import PromisedPaymentRefused
from backend.db import savepoint
from backend.errors import AppError
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
    refused,
    say,
)
from dialogs.state import FlowState
from dialogs.types import Outbound

CONFIRM = "confirm"


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
            return refused(ctx, state, terms.reason or PromisedPaymentRefused.code, extra)
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
            until=ctx.moment(terms.expires_at),
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
            async with savepoint(ctx.session):
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
            until=ctx.moment(pp.expires_at),
            balance=ctx.major(taken.balance),
        )
        return [say(text, menu_row(ctx))]


def flows() -> list[Flow]:
    return [PromisedPaymentFlow()]
