"""The flow framework. A flow is a small state machine over named steps and slots:

- `start()` begins it (filling slots from the message's entities) and asks the first question,
- `handle()` takes the customer's input at the current step and either moves on
  (`state.goto(step)` + the next question), finishes (`state.finish()`), or returns None when
  it could not use the input (the engine then re-routes by intent or asks again),
- `ask()` renders the question of the current step again (after "back" or a miss).

The engine owns cancel, back and menu (words and buttons) for every flow, persists the state
and stores the transcript; a flow only calls backend services and returns Outbound items.
Anything that changes money or service is asked for confirmation first.

Below the framework are the helpers flows share: who acts (`customer_actor`), the confirmation
answers (`is_yes` / `is_no`), and the answer to a refused change (the `error-<code>` text of the
catalogs with the button of its next step, e.g. `top_up_button` for "pay N first")."""

from __future__ import annotations

from abc import ABC
from datetime import date, datetime
from typing import Any, ClassVar

from backend.audit.service import Actor
from backend.billing.errors import (
    FreezeNegativeBalance,
    LockedDuringPromisedPayment,
    NoSubscription,
    PendingChangeExists,
    PpActive,
    SubscriptionSuspended,
)
from backend.errors import AppError, error_key
from backend.i18n import catalog
from backend.models import Role
from dialogs.context import TurnContext, TurnInput
from dialogs.state import FlowState
from dialogs.types import Button, Outbound, Text, payload

NAV = "nav"  # the engine's own buttons: v1:nav:menu, v1:nav:cancel, v1:nav:back, v1:nav:agent
YES = "yes"  # the argument of a confirmation button ([Подключить], [Подтвердить])


class Flow(ABC):
    name: ClassVar[str]
    # NLU intents that start this flow
    intents: ClassVar[frozenset[str]] = frozenset()
    # needs an identified customer: the engine hands over to `identify` first
    needs_customer: ClassVar[bool] = False
    # the main-menu button (a catalog key), or None when the flow is not on the menu
    menu_label: ClassVar[str | None] = None
    # starting it keeps the flow in progress (talk_to_agent: the agent sees the slots)
    keeps_state: ClassVar[bool] = False

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        """Begin the flow. One-shot answers leave `state` idle; multi-step flows call
        `state.start(self.name, step, slots)` and ask their first question."""
        raise NotImplementedError

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        """The question of `state.step`, again."""
        return []

    async def before_identify(self, ctx: TurnContext) -> list[Outbound]:
        """What an anonymous visitor is told before the engine asks who they are (a flow that
        needs a customer); most flows have nothing to say without the account."""
        return []

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        """The customer's input at `state.step`; None when it is not an answer to the step."""
        return None

    # --- helpers ----------------------------------------------------------------------------

    def btn(
        self, ctx: TurnContext, key: str, step: str, arg: str | int = "", **args: object
    ) -> Button:
        return ctx.button(key, self.name, step, arg, **args)


def nav_row(ctx: TurnContext, *, back: bool = True) -> tuple[Button, ...]:
    """[Back] [Cancel] under every question of a multi-step flow."""
    row = [ctx.button("dialogs-button-cancel", NAV, "cancel")]
    if back:
        row.insert(0, ctx.button("dialogs-button-back", NAV, "back"))
    return tuple(row)


def menu_row(ctx: TurnContext) -> tuple[Button, ...]:
    return (ctx.button("dialogs-button-menu", NAV, "menu"),)


def agent_row(ctx: TurnContext) -> tuple[Button, ...]:
    return (ctx.button("dialogs-button-agent", NAV, "agent"),)


def say(text: str, *rows: tuple[Button, ...]) -> Text:
    return Text(text=text, buttons=tuple(r for r in rows if r))


def nav_payload(step: str) -> str:
    return payload(NAV, step)


class Registry:
    """The flows the engine knows, by name and by intent."""

    def __init__(self, flows: list[Flow]) -> None:
        self.by_name: dict[str, Flow] = {}
        self.by_intent: dict[str, Flow] = {}
        for flow in flows:
            if flow.name in self.by_name or flow.name == NAV:
                raise ValueError(f"duplicate flow name {flow.name!r}")
            self.by_name[flow.name] = flow
            for intent in flow.intents:
                if intent in self.by_intent:
                    raise ValueError(f"intent {intent!r} routed to two flows")
                self.by_intent[intent] = flow

    def get(self, name: str | None) -> Flow | None:
        return self.by_name.get(name) if name else None

    def for_intent(self, intent: str | None) -> Flow | None:
        return self.by_intent.get(intent) if intent else None


# --- shared by the flows ----------------------------------------------------------------------


def customer_actor() -> Actor:
    """The customer acting through the bot (the conversation, not a login, identifies them)."""
    return Actor(user_id=None, role=Role.customer)


def is_yes(turn: TurnInput) -> bool:
    return (turn.button is not None and turn.arg == YES) or (
        turn.button is None and turn.intent.name == "affirm" and turn.intent.confidence >= 0.5
    )


def is_no(turn: TurnInput) -> bool:
    return turn.button is None and turn.intent.name == "deny" and turn.intent.confidence >= 0.5


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


def refusal_text(ctx: TurnContext, code: str, extra: dict[str, Any]) -> str:
    """`error-<code>` with the extras the catalogs expect ($amount, $date, $days)."""
    key = error_key(code)
    if not catalog().has(key, ctx.locale):
        return ctx.t("dialogs-billing-refused")
    args: dict[str, Any] = {"amount": ctx.major(int(extra.get("amount_to_pay") or 0))}
    for name in ("available_from", "latest_start_on", "promised_payment_expires_at"):
        if extra.get(name) is not None:
            args["date"] = _when(ctx, extra[name])
    days = extra.get("min_days", extra.get("max_days"))
    if days is not None:
        args["days"] = int(days)
    return ctx.t(key, **args)


def next_step(ctx: TurnContext, code: str, extra: dict[str, Any]) -> tuple[Button, ...]:
    """The button that removes the refusal, when there is one."""
    amount = int(extra.get("amount_to_pay") or 0)
    if amount > 0:
        return (top_up_button(ctx, amount),)
    if code == SubscriptionSuspended.code:
        return (ctx.button("dialogs-freeze-resume-button", "suspend_service", "start", "resume"),)
    if code == PendingChangeExists.code:
        return (ctx.button("dialogs-tariff-cancel-pending", "change_tariff", "start", "cancel"),)
    if code in (LockedDuringPromisedPayment.code, FreezeNegativeBalance.code, PpActive.code):
        return (ctx.button("dialogs-menu-top-up", "top_up", "start"),)
    if code == NoSubscription.code:
        return (ctx.button("dialogs-button-agent", NAV, "agent"),)
    return ()


def _when(ctx: TurnContext, value: Any) -> str:
    if isinstance(value, datetime):
        return ctx.moment(value)
    if isinstance(value, date):
        return ctx.day(value)
    return str(value)
