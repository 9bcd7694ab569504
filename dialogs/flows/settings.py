"""Settings: the language (the conversation's and, for a customer, the profile's, so e-mails and
notifications follow) and the notification preferences (billing, outages, tickets, marketing).

Both are one tap, reversible and free, so the tap is the confirmation: the reply shows the new
state with the button to switch it back."""

from __future__ import annotations

from backend.customers import service as customers
from backend.customers.schemas import NotificationPreferences, ProfileUpdateIn
from backend.i18n import SUPPORTED_LOCALES
from dialogs import transcript
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import Flow, customer_actor, menu_row, nav_row, say
from dialogs.state import FlowState
from dialogs.types import Button, Outbound, Text

NAME = "settings"
MAIN = "main"
LANG = "lang"
NOTIFY = "notify"
TOPICS = ("billing", "outages", "tickets", "marketing")


async def _set_conversation_locale(ctx: TurnContext, locale: str) -> None:
    await transcript.set_locale(ctx.session, ctx.conversation.id, locale)


class SettingsFlow(Flow):
    name = NAME
    menu_label = "dialogs-settings-menu"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        # /language opens the choice of language directly
        state.start(self.name, LANG if turn.arg == LANG else MAIN)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        if state.step == LANG:
            rows = tuple(self.btn(ctx, f"dialogs-settings-lang-{code}", LANG, code)
                         for code in SUPPORTED_LOCALES)  # fmt: skip
            return [say(ctx.t("dialogs-settings-ask-lang"), rows, nav_row(ctx))]
        if state.step == NOTIFY:
            return [await self._notify_card(ctx)]
        lang = self.btn(ctx, "dialogs-settings-lang-button", MAIN, LANG)
        row: tuple[Button, ...] = (lang,)
        if ctx.customer_id is not None:
            row = (lang, self.btn(ctx, "dialogs-settings-notify-button", MAIN, NOTIFY))
        text = ctx.t("dialogs-settings-title", lang=ctx.locale)
        return [say(text, row, nav_row(ctx, back=False))]

    async def _notify_card(self, ctx: TurnContext) -> Text:
        assert ctx.customer_id is not None
        customer = await customers.get_customer(ctx.session, ctx.customer_id)
        prefs = customers.notification_preferences(customer).model_dump()
        rows = [
            (
                self.btn(
                    ctx,
                    "dialogs-settings-topic",
                    NOTIFY,
                    topic,
                    topic=topic,
                    on="yes" if prefs[topic] else "no",
                ),
            )
            for topic in TOPICS
        ]
        return say(ctx.t("dialogs-settings-ask-notify"), *rows, nav_row(ctx))

    async def handle(
        self, ctx: TurnContext, state: FlowState, turn: TurnInput
    ) -> list[Outbound] | None:
        arg = turn.arg
        if state.step == MAIN and arg in (LANG, NOTIFY):
            if arg == NOTIFY and ctx.customer_id is None:
                return None
            state.goto(arg)
            return await self.ask(ctx, state)
        if state.step == LANG and arg in SUPPORTED_LOCALES:
            await _set_conversation_locale(ctx, arg)
            if ctx.customer_id is not None:
                await customers.update_customer(
                    ctx.session, ctx.customer_id, ProfileUpdateIn(locale=arg), customer_actor()
                )
            ctx.locale = arg  # this reply already speaks the new language
            state.finish()
            return [say(ctx.t("dialogs-settings-lang-set"), menu_row(ctx))]
        if state.step == NOTIFY and arg in TOPICS and ctx.customer_id is not None:
            customer = await customers.get_customer(ctx.session, ctx.customer_id)
            prefs = customers.notification_preferences(customer).model_dump()
            prefs[arg] = not prefs[arg]
            await customers.set_notification_preferences(
                ctx.session, ctx.customer_id, NotificationPreferences(**prefs), customer_actor()
            )
            key = "dialogs-settings-topic-on" if prefs[arg] else "dialogs-settings-topic-off"
            card = await self._notify_card(ctx)
            return [say(ctx.t(key, topic=arg)), card]
        return None


def flows() -> list[Flow]:
    return [SettingsFlow()]
