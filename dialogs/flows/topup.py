"""Top-up (docs/isp-rules.md, flow 2): the amount from the message, or asked with presets (the
debt, one month, three months, another amount), ending in a PaymentRequest: a Telegram invoice
in the bot when Telegram payments are configured, otherwise a payment link.

Creating a payment changes nothing on the account (money moves only when the provider confirms
it), so the preset tap itself is the confirmation, as in docs/isp-rules.md; the provider's page or
Telegram's payment form is where the customer confirms the charge."""

from __future__ import annotations

import re
from typing import ClassVar

from backend.audit.service import Actor
from backend.billing import service as billing
from backend.db import savepoint
from backend.errors import AppError, RateLimited
from backend.payments import service as payments
from backend.payments.providers import telegram as telegram_payments
from backend.payments.schemas import PaymentIn
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, customer_actor, nav_row, say
from dialogs.state import FlowState
from dialogs.types import Button, Outbound, PaymentRequest

ASK_AMOUNT = "amount"
TYPE_AMOUNT = "type_amount"
_DIGITS = re.compile(r"^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*(?:₽|руб\w*|rub)?\s*$", re.IGNORECASE)


def amount_from(turn: TurnInput) -> int | None:
    """Minor units from the NLU entity (major units) or a bare number typed at the prompt."""
    value = turn.intent.entities.get("amount")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return round(value * 100)
    if isinstance(value, str) and value.isdigit():
        return int(value) * 100
    if turn.text:
        match = _DIGITS.match(turn.text.replace("\u00a0", "").replace(" ", ""))
        if match:
            return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    return None


class TopUpFlow(Flow):
    name = "top_up"
    intents: ClassVar[frozenset[str]] = frozenset({"top_up"})
    needs_customer = True
    menu_label = "dialogs-menu-top-up"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        state.start(self.name, ASK_AMOUNT)
        # a "pay N first" button carries the amount (minor units) as its argument
        amount = (
            amount_from(turn)
            if turn.button is None
            else (int(turn.arg) if turn.arg and turn.arg.isdigit() else None)
        )
        if amount is not None:
            return await self._pay(ctx, state, amount)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        if state.step == TYPE_AMOUNT:
            text = ctx.t(
                "dialogs-topup-type-amount",
                min=ctx.major(ctx.settings.topup_min),
                max=ctx.major(ctx.settings.topup_max),
            )
            return [say(text, nav_row(ctx))]
        assert ctx.customer_id is not None
        balance = await billing.balance(ctx.session, ctx.customer_id, ctx.today)
        sub = await billing.subscription(ctx.session, ctx.customer_id)
        presets = []
        debt = -balance.amount if balance.amount < 0 else 0
        if debt:
            presets.append(self._preset(ctx, "dialogs-topup-preset-debt", debt))
        if sub is not None and sub.price > 0:
            presets.append(self._preset(ctx, "dialogs-topup-preset-month", sub.price))
            presets.append(self._preset(ctx, "dialogs-topup-preset-3-months", 3 * sub.price))
        other = self.btn(ctx, "dialogs-topup-preset-other", ASK_AMOUNT, "other")
        text = (
            ctx.t("dialogs-topup-ask-debt", debt=ctx.major(debt))
            if debt
            else ctx.t("dialogs-topup-ask")
        )
        rows = [tuple(presets[i : i + 2]) for i in range(0, len(presets), 2)]
        return [say(text, *rows, (other,), nav_row(ctx, back=False))]

    def _preset(self, ctx: TurnContext, key: str, amount: int) -> Button:
        amount = max(amount, ctx.settings.topup_min)
        return self.btn(ctx, key, ASK_AMOUNT, amount, amount=ctx.major(amount))

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        if turn.button is not None:
            if turn.arg == "other":
                state.goto(TYPE_AMOUNT)
                return await self.ask(ctx, state)
            if turn.arg and turn.arg.isdigit():
                return await self._pay(ctx, state, int(turn.arg))
            return None
        amount = amount_from(turn)
        if amount is None:
            return None
        return await self._pay(ctx, state, amount)

    async def _pay(self, ctx: TurnContext, state: FlowState, amount: int) -> list[Outbound]:
        settings = ctx.settings
        if not settings.topup_min <= amount <= settings.topup_max:
            text = ctx.t(
                "dialogs-topup-out-of-range",
                min=ctx.major(settings.topup_min),
                max=ctx.major(settings.topup_max),
            )
            if state.step != TYPE_AMOUNT:
                state.goto(TYPE_AMOUNT)
            return [say(text, nav_row(ctx))]
        assert ctx.customer_id is not None
        try:
            async with savepoint(ctx.session):
                request = await self._create(ctx, amount, customer_actor())
        except RateLimited:
            state.finish()
            return [say(ctx.t("dialogs-topup-rate-limited"))]
        except AppError:
            state.finish()
            return [say(ctx.t("dialogs-topup-failed"))]
        state.finish()
        return [request]

    async def _create(self, ctx: TurnContext, amount: int, actor: Actor) -> PaymentRequest:
        settings = ctx.settings
        assert ctx.customer_id is not None
        if ctx.channel == "telegram" and telegram_payments.enabled(settings):
            invoice = await payments.create_telegram_payment(
                ctx.session, settings, ctx.customer_id, amount, actor=actor, locale=ctx.locale
            )
            request = PaymentRequest(
                payment_public_id=invoice.payment_id,
                amount=amount,
                currency=invoice.currency,
                telegram=invoice.model_dump(mode="json"),
                text=ctx.t("dialogs-topup-invoice", amount=ctx.major(amount)),
            )
        else:
            payment = await payments.create_payment(
                ctx.session,
                settings,
                ctx.limiter,
                customer_id=ctx.customer_id,
                data=PaymentIn(amount=amount),
                idempotency_key=None,
                actor=actor,
            )
            request = PaymentRequest(
                payment_public_id=payment.public_id,
                amount=payment.amount,
                currency=payment.currency,
                confirmation_url=payment.confirmation_url,
                text=ctx.t("dialogs-topup-link", amount=ctx.major(amount)),
            )
        return request
