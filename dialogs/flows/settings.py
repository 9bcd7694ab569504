"""Settings: the language (the conversation's and, for a customer, the profile's, so e-mails and
notifications follow) and the notification preferences (billing, outages, tickets, marketing;
security notices cannot be turned off, and the card says so).

Both are one tap, reversible and free, so the tap is the confirmation: the reply shows the new
state with the button to switch it back.

Right after a chat is linked to a contract the bot asks «Получать уведомления о балансе?»
(docs/isp-rules.md, flow 1): the adapter starts this flow at the step `ASK_BILLING`
(`LINKED_PAYLOAD`), and the answer (a button, or "да"/"нет" in words) sets the billing
preference and says where to change it."""

from __future__ import annotations

from backend.customers import service as customers
from backend.customers.schemas import NotificationPreferences, ProfileUpdateIn
from backend.i18n import SUPPORTED_LOCALES
from dialogs import transcript
from dialogs.context import TurnContext, TurnInput
from dialogs.flows.base import YES, Flow, customer_actor, is_no, is_yes, menu_row, nav_row, say
from dialogs.state import FlowState
from dialogs.types import Button, Outbound, Text, payload

NAME = "settings"
MAIN = "main"
LANG = "lang"
NOTIFY = "notify"
TOPICS = ("billing", "outages", "tickets", "marketing")
# The question after linking: the start argument that asks it, and its step.
LINKED = "linked"
ASK_BILLING = "ask_billing"
NO = "no"
# The button payload an adapter sends to ask it (bot/linking.py).
LINKED_PAYLOAD = payload(NAME, "start", LINKED)


async def _set_conversation_locale(ctx: TurnContext, locale: str) -> None:
    await transcript.set_locale(ctx.session, ctx.conversation.id, locale)


class SettingsFlow(Flow):
    name = NAME
    menu_label = "dialogs-settings-menu"

    async def start(self, ctx: TurnContext, state: FlowState, turn: TurnInput) -> list[Outbound]:
        if turn.arg == LINKED and ctx.customer_id is not None:
            state.start(self.name, ASK_BILLING)
            return await self.ask(ctx, state)
        # /language opens the choice of language directly
        state.start(self.name, LANG if turn.arg == LANG else MAIN)
        return await self.ask(ctx, state)

    async def ask(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        if state.step == ASK_BILLING:
            yes = self.btn(ctx, "dialogs-settings-billing-yes", ASK_BILLING, YES)
            no = self.btn(ctx, "dialogs-settings-billing-no", ASK_BILLING, NO)
            return [say(ctx.t("dialogs-settings-ask-billing"), (yes, no))]
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
        text = (
            f"{ctx.t('dialogs-settings-ask-notify')}\n{ctx.t('dialogs-settings-security-always')}"
        )
        return say(text, *rows, nav_row(ctx))

    async def _set_topic(self, ctx: TurnContext, topic: str, on: bool) -> None:
        """Through the customers service, which audits the change."""
        assert ctx.customer_id is not None
        customer = await customers.get_customer(ctx.session, ctx.customer_id)
        prefs = customers.notification_preferences(customer).model_dump()
        prefs[topic] = on
        await customers.set_notification_preferences(
            ctx.session, ctx.customer_id, NotificationPreferences(**prefs), customer_actor()
        )

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
            on = not customers.notification_preferences(customer).model_dump()[arg]
            await self._set_topic(ctx, arg, on)
            key = "dialogs-settings-topic-on" if on else "dialogs-settings-topic-off"
            card = await self._notify_card(ctx)
            return [say(ctx.t(key, topic=arg)), card]
        if state.step == ASK_BILLING and ctx.customer_id is not None:
            if is_yes(turn):
                on = True
            elif arg == NO or is_no(turn):
                on = False
            else:
                return None  # the engine asks again, or routes the words elsewhere
            await self._set_topic(ctx, "billing", on)
            state.finish()
            key = "dialogs-settings-billing-on" if on else "dialogs-settings-billing-off"
            return [say(ctx.t(key), menu_row(ctx))]
        return None


def flows() -> list[Flow]:
    return [SettingsFlow()]
