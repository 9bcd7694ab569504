"""Greeting and the main menu (docs/isp-rules.md, "The Telegram main menu"): a header card with the
customer's name, contract, status, balance and "enough until", then one button per flow that
is registered and belongs on the menu."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from backend.billing import service as billing
from backend.customers import service as customers
from backend.errors import NotFound
from backend.models import SubscriptionStatus
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, Registry, say
from dialogs.state import FlowState
from dialogs.types import Button, Outbound, Text, payload

# The menu's layout: flow names two per row, in the order of docs/isp-rules.md. A flow that is not
# registered (not built yet) simply leaves its place out.
MENU_LAYOUT: tuple[str, ...] = (
    "top_up",
    "promised_payment",
    "no_internet",
    "talk_to_agent",
    "change_tariff",
    "suspend_service",
    "get_documents",
    "settings",
    "check_balance",
    "payment_history",
)


async def header_card(ctx: TurnContext) -> str | None:
    """Two lines about the account, or None for an anonymous visitor."""
    if ctx.customer_id is None:
        return None
    try:
        customer = await customers.get_customer(ctx.session, ctx.customer_id)
        balance = await billing.balance(ctx.session, ctx.customer_id, ctx.today)
    except NotFound:
        return None
    sub = await billing.subscription(ctx.session, ctx.customer_id)
    status = sub.status.value if sub else "none"
    first = ctx.t(
        "dialogs-header-customer",
        name=customer.full_name,
        contract=customer.contract_number,
        status=status,
    )
    if balance.days_left is None or sub is None or sub.status is not SubscriptionStatus.active:
        second = ctx.t(
            "dialogs-header-balance",
            amount=ctx.major(balance.amount),
            tariff=sub.tariff_name if sub else "",
        )
    else:
        second = ctx.t(
            "dialogs-header-balance-until",
            amount=ctx.major(balance.amount),
            until=ctx.day(ctx.today + timedelta(days=balance.days_left)),
            tariff=sub.tariff_name,
        )
    return f"{first}\n{second}"


def menu_buttons(ctx: TurnContext, registry: Registry) -> tuple[tuple[Button, ...], ...]:
    buttons = []
    for name in MENU_LAYOUT:
        flow = registry.get(name)
        if flow is None or flow.menu_label is None:
            continue
        if flow.needs_customer and ctx.customer_id is None and name != "talk_to_agent":
            continue
        buttons.append(Button(label=ctx.t(flow.menu_label), payload=payload(name, "start")))
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


async def main_menu(ctx: TurnContext, registry: Registry, intro_key: str) -> Text:
    card = await header_card(ctx)
    intro = ctx.t(intro_key)
    if ctx.customer_id is None:
        intro = f"{intro}\n{ctx.t('dialogs-menu-anonymous-' + ctx.channel)}"
    text = f"{card}\n\n{intro}" if card else intro
    return Text(text=text, buttons=menu_buttons(ctx, registry))


class GreetingFlow(Flow):
    name = "greeting"
    intents: ClassVar[frozenset[str]] = frozenset({"greet", "help"})

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry  # set by the engine once every flow is registered

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        assert self.registry is not None
        key = "dialogs-greeting" if turn.intent.name == "greet" else "dialogs-menu-intro"
        return [await main_menu(ctx, self.registry, key)]


class SmallTalkFlow(Flow):
    """thanks / goodbye: one line, nothing changes."""

    name = "small_talk"
    intents: ClassVar[frozenset[str]] = frozenset({"thanks", "goodbye"})

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        key = "dialogs-thanks" if turn.intent.name == "thanks" else "dialogs-goodbye"
        return [say(ctx.t(key))]
