"""Documents: the type (the document_type entity or buttons: contract, invoice, act) and, for an
invoice or an act, the month (the period entity or buttons of the last three months), then the
document itself as a DocumentOut.

Documents are generated deterministically (backend.documents.generate): asking again for
unchanged data returns the stored document instead of a new version. An invoice is the month's
existing invoice when there is one, otherwise an on-demand invoice for the month's tariff fees.
Producing a document changes neither money nor service, so choosing it is the confirmation."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import ClassVar

from babel.dates import format_date

from backend.billing import repository as billing_repository
from backend.billing import rules
from backend.db import savepoint
from backend.documents import generate
from backend.documents.errors import InvalidPeriod, NothingToInvoice, StorageUnavailable
from backend.errors import AppError
from backend.models import Document, DocumentKind
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, agent_row, customer_actor, menu_row, nav_row, say
from dialogs.state import FlowState
from dialogs.types import DocumentOut, Outbound

GET_DOCUMENTS = "get_documents"
TYPE, PERIOD = "type", "period"
MONTHS_OFFERED = 3
# Invoices looked at when searching the month's existing one (a few years of monthly bills).
INVOICES_SCANNED = 60
_PERIOD = re.compile(r"^(20\d\d)-(0[1-9]|1[0-2])$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def month_of(value: object) -> date | None:
    """The first day of a "YYYY-MM" period (the NLU's period entity and the month buttons)."""
    if not isinstance(value, str):
        return None
    match = _PERIOD.match(value.strip())
    return date(int(match.group(1)), int(match.group(2)), 1) if match else None


def filename_of(document: Document) -> str:
    """An ASCII file name every channel accepts: kind, period and version."""
    parts = [document.kind.value, document.period, f"v{document.version}"]
    return _UNSAFE.sub("_", "-".join(p for p in parts if p)).strip("._-") + ".pdf"


class GetDocumentsFlow(Flow):
    name = GET_DOCUMENTS
    intents: ClassVar[frozenset[str]] = frozenset({"get_documents"})
    needs_customer = True
    menu_label = "dialogs-support-menu-documents"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        entities = turn.intent.entities if turn.button is None else {}
        kind = entities.get("document_type")
        month = month_of(entities.get("period"))
        slots: dict[str, str] = {}
        if month is not None:
            slots["period"] = f"{month:%Y-%m}"
        state.start(self.name, TYPE, slots)
        if kind in {k.value for k in DocumentKind}:
            return await self._chose_type(ctx, state, DocumentKind(kind))
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        if state.step == TYPE:
            buttons = tuple(
                self.btn(ctx, "dialogs-support-docs-kind", TYPE, k.value, type=k.value)
                for k in (DocumentKind.contract, DocumentKind.invoice, DocumentKind.act)
            )
            return [say(ctx.t("dialogs-support-docs-type"), buttons, nav_row(ctx, back=False))]
        if state.step == PERIOD:
            months = []
            first = rules.month_start(ctx.today)
            for _ in range(MONTHS_OFFERED):
                months.append(first)
                first = rules.month_start(first - timedelta(days=1))
            buttons = tuple(
                self.btn(
                    ctx,
                    "dialogs-support-docs-month",
                    PERIOD,
                    f"{m:%Y-%m}",
                    month=self._month(ctx, m),
                )
                for m in months
            )
            return [say(ctx.t("dialogs-support-docs-period"), buttons, nav_row(ctx))]
        return []

    @staticmethod
    def _month(ctx: TurnContext, month: date) -> str:
        """ "сентябрь 2025" / "September 2025" (the standalone month name)."""
        return format_date(month, "LLLL y", locale=ctx.locale)

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        if state.step == TYPE:
            value = (
                turn.arg if turn.button is not None else turn.intent.entities.get("document_type")
            )
            if value not in {k.value for k in DocumentKind}:
                return None
            entity_month = month_of(turn.intent.entities.get("period"))
            if entity_month is not None:
                state.slots["period"] = f"{entity_month:%Y-%m}"
            return await self._chose_type(ctx, state, DocumentKind(value))
        if state.step == PERIOD:
            raw = turn.arg if turn.button is not None else turn.intent.entities.get("period")
            month = month_of(raw)
            if month is None:
                if turn.button is None and turn.text:
                    return [
                        say(ctx.t("dialogs-support-docs-bad-period")),
                        *await self.ask(ctx, state),
                    ]
                return None
            return await self._deliver(ctx, state, DocumentKind(state.slots["kind"]), month)
        return None

    async def _chose_type(
        self, ctx: TurnContext, state: FlowState, kind: DocumentKind
    ) -> list[Outbound]:
        state.slots["kind"] = kind.value
        if kind is DocumentKind.contract:
            return await self._deliver(ctx, state, kind, None)
        month = month_of(state.slots.get("period"))
        if month is not None:
            return await self._deliver(ctx, state, kind, month)
        state.goto(PERIOD)
        return await self.ask(ctx, state)

    async def _deliver(
        self, ctx: TurnContext, state: FlowState, kind: DocumentKind, month: date | None
    ) -> list[Outbound]:
        assert ctx.customer_id is not None
        try:
            async with savepoint(ctx.session):
                document = await self._document(ctx, kind, month)
        except InvalidPeriod:
            state.slots.pop("period", None)
            if state.step != PERIOD:
                state.goto(PERIOD)
            return [say(ctx.t("dialogs-support-docs-future")), *await self.ask(ctx, state)]
        except NothingToInvoice:
            state.finish()
            return [say(ctx.t("dialogs-support-docs-nothing-to-invoice"), menu_row(ctx))]
        except StorageUnavailable:
            state.finish()
            return [say(ctx.t("dialogs-support-docs-unavailable"), menu_row(ctx))]
        except AppError:
            state.finish()
            return [say(ctx.t("dialogs-support-failed"), agent_row(ctx), menu_row(ctx))]
        state.finish()
        if month is None:
            caption = ctx.t("dialogs-support-docs-ready", type=kind.value)
        else:
            caption = ctx.t(
                "dialogs-support-docs-ready-period", type=kind.value, period=self._month(ctx, month)
            )
        return [
            DocumentOut(document_id=document.id, filename=filename_of(document), caption=caption)
        ]

    async def _document(self, ctx: TurnContext, kind: DocumentKind, month: date | None) -> Document:
        assert ctx.customer_id is not None
        settings, actor = ctx.settings, customer_actor()
        if kind is DocumentKind.contract:
            return (
                await generate.contract(ctx.session, settings, ctx.customer_id, actor=actor)
            ).document
        assert month is not None
        if kind is DocumentKind.act:
            generated = await generate.monthly_act(
                ctx.session, settings, ctx.customer_id, month, actor=actor
            )
            return generated.document
        invoices = await billing_repository.invoices_for_customer(
            ctx.session, ctx.customer_id, status=None, limit=INVOICES_SCANNED, before_id=None
        )
        for invoice in invoices:
            start = invoice.period_start
            if start is not None and rules.month_start(start) == month:
                generated = await generate.invoice_document(
                    ctx.session, settings, invoice.id, customer_id=ctx.customer_id, actor=actor
                )
                return generated.document
        last = rules.month_end(month)
        on_demand = await generate.invoice_for_period(
            ctx.session, settings, ctx.customer_id, month, last, actor
        )
        return on_demand.document


def flows() -> list[Flow]:
    return [GetDocumentsFlow()]
