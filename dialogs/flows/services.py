"""My services: the subscription and its tariff, the status with what to do about it (active /
frozen -> [Разморозить] / blocked for debt -> [Пополнить] [Обещанный платёж]), a scheduled
tariff change (with [Отменить смену]), a pause, and the balance. One message, nothing changes."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from backend.billing import repository, suspensions
from backend.billing import service as billing
from backend.models import SubscriptionStatus, SuspensionStatus
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, menu_row, say, top_up_button
from dialogs.flows.tariffs import tariff_line
from dialogs.state import FlowState
from dialogs.types import Button, Outbound


class MyServicesFlow(Flow):
    name = "my_services"
    intents: ClassVar[frozenset[str]] = frozenset({"my_services"})
    needs_customer = True
    menu_label = "dialogs-services-menu"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        assert ctx.customer_id is not None
        balance = await billing.balance(ctx.session, ctx.customer_id, ctx.today)
        found = await repository.current_subscription(ctx.session, ctx.customer_id)
        amount = ctx.major(balance.amount)
        if found is None:
            text = ctx.t("dialogs-services-none", balance=amount)
            return [say(text, (ctx.button("dialogs-tariff-list-button", "list_tariffs", "start"),),
                        menu_row(ctx))]  # fmt: skip
        sub, tariff = found
        lines = [ctx.t("dialogs-services-title", started=ctx.day(sub.started_on)),
                 tariff_line(ctx, tariff, current=True)]  # fmt: skip
        rows: list[tuple[Button, ...]] = []
        pauses = await suspensions.list_for_customer(
            ctx.session, ctx.settings, ctx.customer_id, ctx.today
        )
        active = next((p for p in pauses.items if p.status is SuspensionStatus.active), None)
        if sub.status is SubscriptionStatus.blocked:
            debt = max(0, -balance.amount)
            lines.append(ctx.t("dialogs-services-blocked", debt=ctx.major(debt)))
            pay = (
                top_up_button(ctx, debt)
                if debt
                else ctx.button("dialogs-menu-top-up", "top_up", "start")
            )
            rows.append((pay, ctx.button("dialogs-pp-menu", "promised_payment", "start")))
        elif sub.status is SubscriptionStatus.suspended or active is not None:
            end = ctx.day(active.end_on) if active else ""
            lines.append(ctx.t("dialogs-services-frozen", end=end))
            rows.append(
                (ctx.button("dialogs-freeze-resume-button", "suspend_service", "start", "resume"),)
            )
        else:
            lines.append(ctx.t("dialogs-services-active"))
        if sub.scheduled_tariff_id is not None and sub.scheduled_change_on is not None:
            target = await repository.tariff_by_id(ctx.session, sub.scheduled_tariff_id)
            lines.append(
                ctx.t(
                    "dialogs-services-scheduled-change",
                    name=target.name if target else "",
                    date=ctx.day(sub.scheduled_change_on),
                )
            )
            rows.append(
                (ctx.button("dialogs-tariff-cancel-pending", "change_tariff", "start", "cancel"),)
            )
        for pause in pauses.items:
            if pause.status is SuspensionStatus.scheduled:
                lines.append(
                    ctx.t(
                        "dialogs-services-freeze-scheduled",
                        start=ctx.day(pause.start_on),
                        end=ctx.day(pause.end_on),
                    )
                )
        lines.append(ctx.t("dialogs-services-free-days", days=pauses.free_days_left))
        if balance.days_left is not None and balance.amount >= 0 and active is None:
            until = ctx.day(ctx.today + timedelta(days=balance.days_left))
            lines.append(ctx.t("dialogs-services-balance-until", balance=amount, until=until))
        else:
            lines.append(ctx.t("dialogs-services-balance", balance=amount))
        rows.append(
            (
                ctx.button("dialogs-tariff-menu", "change_tariff", "start"),
                ctx.button("dialogs-freeze-menu", "suspend_service", "start"),
            )
        )
        return [say("\n".join(lines), *rows, menu_row(ctx))]


def flows() -> list[Flow]:
    return [MyServicesFlow()]
