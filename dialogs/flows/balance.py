"""Balance (with the days the balance lasts at the current tariff) and the payment history."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from backend.billing import service as billing
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, menu_row, say
from dialogs.state import FlowState
from dialogs.types import Outbound

HISTORY_SIZE = 10


class CheckBalanceFlow(Flow):
    name = "check_balance"
    intents: ClassVar[frozenset[str]] = frozenset({"check_balance"})
    needs_customer = True
    menu_label = "dialogs-menu-balance"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        assert ctx.customer_id is not None
        balance = await billing.balance(ctx.session, ctx.customer_id, ctx.today)
        amount = ctx.major(balance.amount)
        if balance.days_left is None:
            text = ctx.t("dialogs-balance", amount=amount)
        elif balance.amount < 0:
            text = ctx.t("dialogs-balance-debt", amount=-amount)
        else:
            until = ctx.today + timedelta(days=balance.days_left)
            text = ctx.t(
                "dialogs-balance-days",
                amount=amount,
                days=balance.days_left,
                until=ctx.day(until),
            )
        top_up = ctx.button("dialogs-menu-top-up", "top_up", "start")
        return [say(text, (top_up, *menu_row(ctx)))]


class PaymentHistoryFlow(Flow):
    name = "payment_history"
    intents: ClassVar[frozenset[str]] = frozenset({"payment_history"})
    needs_customer = True
    menu_label = "dialogs-menu-history"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        assert ctx.customer_id is not None
        page = await billing.transaction_page(ctx.session, ctx.customer_id, limit=HISTORY_SIZE)
        if not page.items:
            return [say(ctx.t("dialogs-history-empty"), menu_row(ctx))]
        lines = [ctx.t("dialogs-history-title")]
        for item in page.items:
            lines.append(
                ctx.t(
                    "dialogs-history-line",
                    date=ctx.day(item.created_at.date()),
                    amount=ctx.major(item.amount),
                    reason=item.reason.value,
                )
            )
        lines.append(ctx.t("dialogs-history-explain"))
        return [say("\n".join(lines), menu_row(ctx))]
