""" "Internet doesn't work" (docs/isp-rules.md, flow 4) and "the internet is slow".

No internet checks the causes the bot can see, in order: a block for debt or a negative balance
(offer a top-up and a promised payment), a freeze (offer to unfreeze), a known outage at the
customer's node or area (say when it is expected to be fixed and offer to report the fix);
only then the customer's own checks (router restarted, LOS light, Wi-Fi only), ending in a
"no internet" ticket with the answers attached and the promised operator response time.

Slow internet shows the tariff's speeds, walks through cable vs Wi-Fi, a speed test and a
restart, then offers a "slow internet" ticket with the answers."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from backend.billing import service as billing
from backend.billing import suspensions
from backend.customers import service as customers
from backend.db import savepoint
from backend.errors import AppError
from backend.models import (
    SubscriptionStatus,
    SuspensionStatus,
    TicketCategory,
    TicketPriority,
)
from backend.network import service as network
from backend.support import service as support
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, agent_row, customer_actor, menu_row, nav_row, say
from dialogs.state import FlowState
from dialogs.types import Button, Outbound

NO_INTERNET = "no_internet"
SLOW_INTERNET = "slow_internet"

# no_internet steps
DEBT, FROZEN, OUTAGE, ROUTER, LOS, WIFI = "debt", "frozen", "outage", "router", "los", "wifi"
# slow_internet steps
LINK, SPEEDTEST, RESTART, OFFER = "link", "speedtest", "restart", "offer"

_SPEED = re.compile(
    r"^\s*(\d{1,5})(?:[.,]\d{1,2})?\s*(?:мбит\S*|mbit\S*|mbps|мб\S*|mb\S*)?\s*$", re.I
)


def ticket_reply_rows(ctx: TurnContext) -> tuple[tuple[Button, ...], ...]:
    return (agent_row(ctx), menu_row(ctx))


def reply_time(ctx: TurnContext) -> str:
    return ctx.t("dialogs-support-reply-time", minutes=ctx.settings.chat_first_reply_minutes)


def yes_no(ctx: TurnContext, value: object) -> str:
    return ctx.t("dialogs-support-yes" if value else "dialogs-support-no")


class NoInternetFlow(Flow):
    name = NO_INTERNET
    intents: ClassVar[frozenset[str]] = frozenset({"no_internet"})
    needs_customer = True
    menu_label = "dialogs-support-menu-no-internet"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        assert ctx.customer_id is not None
        state.start(self.name, DEBT)
        balance = await billing.balance(ctx.session, ctx.customer_id, ctx.today)
        sub = await billing.subscription(ctx.session, ctx.customer_id)
        state.slots = {
            "balance": balance.amount,
            "status": sub.status.value if sub else None,
            "tariff": sub.tariff_name if sub else None,
        }
        if balance.amount < 0 or (sub is not None and sub.status is SubscriptionStatus.blocked):
            return await self.ask(ctx, state)
        if sub is not None and sub.status is SubscriptionStatus.suspended:
            frozen = await self._active_freeze(ctx)
            if frozen is not None:
                state.slots["suspension_id"], state.slots["until"] = frozen
                state.step = FROZEN
                return await self.ask(ctx, state)
        return await self._after_account(ctx, state)

    async def before_identify(self, ctx: TurnContext) -> list[Outbound]:
        """An anonymous visitor hears the known outages at once; their own line needs the
        account."""
        outages = await network.open_outages(ctx.session)
        if not outages:
            return [say(ctx.t("dialogs-support-noinet-anonymous-none"))]
        lines = [
            ctx.t(
                "dialogs-support-noinet-anonymous-item",
                title=o.title,
                time=self._eta(ctx, o.expected_fix_at.isoformat()) if o.expected_fix_at else "-",
            )
            for o in outages
        ]
        return [say("\n".join([ctx.t("dialogs-support-noinet-anonymous-outages"), *lines]))]

    async def _active_freeze(self, ctx: TurnContext) -> tuple[int, str] | None:
        assert ctx.customer_id is not None
        found = await suspensions.list_for_customer(
            ctx.session, ctx.settings, ctx.customer_id, ctx.today
        )
        for item in found.items:
            if item.status is SuspensionStatus.active:
                return item.id, item.end_on.isoformat()
        return None

    async def _after_account(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        """The account is not the cause: a known outage, else the customer's checks."""
        assert ctx.customer_id is not None
        customer = await customers.get_customer(ctx.session, ctx.customer_id)
        outage = await network.outage_for_customer(ctx.session, customer)
        if outage is not None:
            state.slots["outage_id"] = outage.id
            state.slots["outage_title"] = outage.title
            fix = outage.expected_fix_at
            state.slots["outage_fix"] = fix.isoformat() if fix else None
            state.goto(OUTAGE)
        else:
            state.goto(ROUTER)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        slots = state.slots
        if state.step == DEBT:
            debt = max(-int(slots.get("balance") or 0), 0)
            if slots.get("status") == SubscriptionStatus.blocked.value:
                text = (
                    ctx.t("dialogs-support-noinet-blocked", debt=ctx.major(debt))
                    if debt
                    else ctx.t("dialogs-support-noinet-blocked-no-debt")
                )
            else:
                text = ctx.t("dialogs-support-noinet-debt", debt=ctx.major(debt))
            pay = ctx.button("dialogs-support-top-up", "top_up", "start")
            promised = ctx.button("dialogs-support-promised", "promised_payment", "start")
            more = self.btn(ctx, "dialogs-support-noinet-check-more", DEBT, "more")
            return [say(text, (pay, promised), (more,), nav_row(ctx, back=False))]
        if state.step == FROZEN:
            until = ctx.day(_iso_date(slots["until"]))
            unfreeze = self.btn(ctx, "dialogs-support-noinet-unfreeze", FROZEN, "unfreeze")
            return [
                say(ctx.t("dialogs-support-noinet-frozen", until=until), (unfreeze,), nav_row(ctx))
            ]
        if state.step == OUTAGE:
            title = str(slots.get("outage_title") or "")
            fix = slots.get("outage_fix")
            if fix:
                text = ctx.t("dialogs-support-noinet-outage", title=title, time=self._eta(ctx, fix))
            else:
                text = ctx.t("dialogs-support-noinet-outage-no-eta", title=title)
            yes = self.btn(ctx, "dialogs-support-yes", OUTAGE, "yes")
            no = self.btn(ctx, "dialogs-support-no", OUTAGE, "no")
            return [say(text, (yes, no), nav_row(ctx))]
        if state.step == ROUTER:
            done = self.btn(ctx, "dialogs-support-noinet-router-done", ROUTER, "no")
            helped = self.btn(ctx, "dialogs-support-noinet-router-helped", ROUTER, "yes")
            return [say(ctx.t("dialogs-support-noinet-router"), (done,), (helped,), nav_row(ctx))]
        if state.step == LOS:
            on = self.btn(ctx, "dialogs-support-noinet-los-yes", LOS, "yes")
            off = self.btn(ctx, "dialogs-support-noinet-los-no", LOS, "no")
            return [say(ctx.t("dialogs-support-noinet-los"), (on,), (off,), nav_row(ctx))]
        if state.step == WIFI:
            only = self.btn(ctx, "dialogs-support-noinet-wifi-only", WIFI, "yes")
            every = self.btn(ctx, "dialogs-support-noinet-wifi-all", WIFI, "no")
            return [say(ctx.t("dialogs-support-noinet-wifi"), (only,), (every,), nav_row(ctx))]
        return []

    def _eta(self, ctx: TurnContext, fix_iso: str) -> str:
        fix = datetime.fromisoformat(fix_iso)
        local = fix.astimezone(ZoneInfo(ctx.settings.billing_timezone))
        if local.date() == ctx.today:
            return f"{local:%H:%M}"
        return ctx.moment(fix)

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        answer = turn.arg if turn.button is not None else yes_no_answer(turn)
        if answer is None:
            return None
        if state.step == DEBT:
            if answer != "more":
                return None
            return await self._after_account(ctx, state)
        if state.step == FROZEN:
            if answer not in ("unfreeze", "yes"):
                return None
            return await self._unfreeze(ctx, state)
        if state.step == OUTAGE:
            return await self._outage_answer(ctx, state, answer == "yes")
        if answer not in ("yes", "no"):
            return None
        if state.step == ROUTER:
            if answer == "yes":
                state.finish()
                return [say(ctx.t("dialogs-support-noinet-helped"), menu_row(ctx))]
            state.slots["router_restarted"] = True
            state.goto(LOS)
            return await self.ask(ctx, state)
        if state.step == LOS:
            state.slots["los"] = answer == "yes"
            state.goto(WIFI)
            return await self.ask(ctx, state)
        if state.step == WIFI:
            state.slots["wifi_only"] = answer == "yes"
            return await self._ticket(ctx, state)
        return None

    async def _unfreeze(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        suspension_id = int(state.slots["suspension_id"])
        state.finish()
        try:
            async with savepoint(ctx.session):
                await suspensions.resume_now(
                    ctx.session,
                    ctx.customer_id,
                    suspension_id,
                    ctx.today,
                    ctx.now,
                    customer_actor(),
                )
        except AppError:
            return [
                say(ctx.t("dialogs-support-noinet-unfreeze-failed"), agent_row(ctx), menu_row(ctx))
            ]
        return [say(ctx.t("dialogs-support-noinet-unfrozen"), menu_row(ctx))]

    async def _outage_answer(
        self, ctx: TurnContext, state: FlowState, subscribe: bool
    ) -> list[Outbound]:
        assert ctx.customer_id is not None
        outage_id = int(state.slots["outage_id"])
        state.finish()
        if not subscribe:
            return [say(ctx.t("dialogs-support-noinet-not-subscribed"), menu_row(ctx))]
        await network.subscribe_to_fix(ctx.session, outage_id, ctx.customer_id, ctx.conversation.id)
        return [say(ctx.t("dialogs-support-noinet-subscribed"), menu_row(ctx))]

    async def _ticket(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        slots = state.slots
        checks = {
            "router_restarted": bool(slots.get("router_restarted")),
            "los": bool(slots.get("los")),
            "wifi_only": bool(slots.get("wifi_only")),
        }
        details: dict[str, Any] = {
            "source": "bot",
            "conversation_id": ctx.conversation.id,
            "checks": checks,
            "balance": slots.get("balance"),
            "subscription_status": slots.get("status"),
            "tariff": slots.get("tariff"),
        }
        description = ctx.t(
            "dialogs-support-noinet-summary",
            router=yes_no(ctx, checks["router_restarted"]),
            los=yes_no(ctx, checks["los"]),
            wifi=yes_no(ctx, checks["wifi_only"]),
        )
        state.finish()
        ticket = await support.create_ticket(
            ctx.session,
            customer_id=ctx.customer_id,
            subject=ctx.t("dialogs-support-noinet-subject"),
            description=description,
            actor=customer_actor(),
            category=TicketCategory.no_internet,
            priority=TicketPriority.high,
            details=details,
        )
        text = f"{ctx.t('dialogs-support-noinet-ticket', number=str(ticket.id))}\n{reply_time(ctx)}"
        return [say(text, *ticket_reply_rows(ctx))]


class SlowInternetFlow(Flow):
    name = SLOW_INTERNET
    intents: ClassVar[frozenset[str]] = frozenset({"slow_internet"})
    needs_customer = True

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        assert ctx.customer_id is not None
        sub = await billing.subscription(ctx.session, ctx.customer_id)
        slots: dict[str, Any] = {}
        if sub is not None:
            slots = {
                "tariff": sub.tariff_name,
                "down": sub.speed_down_mbps,
                "up": sub.speed_up_mbps,
            }
        state.start(self.name, LINK, slots)
        if sub is not None:
            intro = ctx.t(
                "dialogs-support-slow-tariff",
                tariff=sub.tariff_name,
                down=sub.speed_down_mbps,
                up=sub.speed_up_mbps,
            )
        else:
            intro = ctx.t("dialogs-support-slow-no-tariff")
        return [say(intro), *await self.ask(ctx, state)]

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        if state.step == LINK:
            cable = self.btn(ctx, "dialogs-support-slow-cable", LINK, "cable")
            wifi = self.btn(ctx, "dialogs-support-slow-wifi", LINK, "wifi")
            return [say(ctx.t("dialogs-support-slow-link"), (cable, wifi), nav_row(ctx))]
        if state.step == SPEEDTEST:
            key = (
                "dialogs-support-slow-speedtest-wifi"
                if state.slots.get("link") == "wifi"
                else "dialogs-support-slow-speedtest"
            )
            skip = self.btn(ctx, "dialogs-support-slow-no-test", SPEEDTEST, "skip")
            return [say(ctx.t(key), (skip,), nav_row(ctx))]
        if state.step == RESTART:
            better = self.btn(ctx, "dialogs-support-slow-better", RESTART, "yes")
            same = self.btn(ctx, "dialogs-support-slow-same", RESTART, "no")
            return [say(ctx.t("dialogs-support-slow-restart"), (better, same), nav_row(ctx))]
        if state.step == OFFER:
            create = self.btn(ctx, "dialogs-support-create-ticket", OFFER, "yes")
            return [say(ctx.t("dialogs-support-slow-offer"), (create,), nav_row(ctx))]
        return []

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        arg = turn.arg if turn.button is not None else None
        if state.step == LINK:
            if arg not in ("cable", "wifi"):
                return None
            state.slots["link"] = arg
            state.goto(SPEEDTEST)
            return await self.ask(ctx, state)
        if state.step == SPEEDTEST:
            if arg == "skip":
                state.slots["measured"] = None
            else:
                speed = _speed(turn)
                if speed is None:
                    return None
                state.slots["measured"] = speed
            state.goto(RESTART)
            return await self.ask(ctx, state)
        answer = arg if turn.button is not None else yes_no_answer(turn)
        if state.step == RESTART:
            if answer == "yes":
                state.finish()
                return [say(ctx.t("dialogs-support-slow-helped"), menu_row(ctx))]
            if answer != "no":
                return None
            state.goto(OFFER)
            return await self.ask(ctx, state)
        if state.step == OFFER and answer == "yes":
            return await self._ticket(ctx, state)
        return None

    async def _ticket(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        assert ctx.customer_id is not None
        slots = state.slots
        measured = slots.get("measured")
        details: dict[str, Any] = {
            "source": "bot",
            "conversation_id": ctx.conversation.id,
            "checks": {
                "link": slots.get("link"),
                "measured_down_mbps": measured,
                "router_restarted": True,
            },
            "tariff": slots.get("tariff"),
            "tariff_down_mbps": slots.get("down"),
            "tariff_up_mbps": slots.get("up"),
        }
        description = ctx.t(
            "dialogs-support-slow-summary",
            link=str(slots.get("link") or "wifi"),
            measured=str(measured) if measured is not None else "—",
        )
        state.finish()
        ticket = await support.create_ticket(
            ctx.session,
            customer_id=ctx.customer_id,
            subject=ctx.t("dialogs-support-slow-subject"),
            description=description,
            actor=customer_actor(),
            category=TicketCategory.slow_internet,
            priority=TicketPriority.medium,
            details=details,
        )
        text = f"{ctx.t('dialogs-support-slow-ticket', number=str(ticket.id))}\n{reply_time(ctx)}"
        return [say(text, *ticket_reply_rows(ctx))]


def _iso_date(value: str) -> date:
    return date.fromisoformat(value)


def _speed(turn: TurnInput) -> int | None:
    if not turn.text:
        return None
    match = _SPEED.match(turn.text)
    return int(match.group(1)) if match else None


def yes_no_answer(turn: TurnInput) -> str | None:
    """A typed "да" / "no" at a yes/no step: the NLU's affirm / deny intents."""
    if turn.intent.name == "affirm":
        return "yes"
    if turn.intent.name == "deny":
        return "no"
    return None


def flows() -> list[Flow]:
    return [NoInternetFlow(), SlowInternetFlow()]
