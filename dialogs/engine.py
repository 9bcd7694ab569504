"""The conversation engine: one entry point, `Engine.handle(inbound) -> list[Outbound]`, for
every channel. A turn is one unit of work (docs/dialogs.md, "A turn step by step"):

1. get or create the conversation (one upsert that also returns its state and flow state);
2. store the inbound message; a redelivered external id returns the replies stored for it the
   first time, without running anything again;
3. held by an agent (waiting_agent / agent): publish the message to the agent console and stay
   silent (a waiting customer hears "an operator will answer soon" at most once per
   WAITING_NOTICE_SECONDS);
4. with the bot (a flow state started for another customer, or for one when this turn is
   anonymous, is dropped first): a button goes straight to its flow; text goes through the
   universal words (cancel, back, menu), then to the flow in progress (slot filling), then to
   NLU's intent; two misses in a row, or an error, offer an agent;
5. store every reply (and the flow state when it changed) and commit; then refresh the Redis
   copy of the flow state and publish events.

handle() never raises: bad input gets a polite reply and leaves the flow where it was."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from backend import outbox
from backend.db import unit_of_work
from backend.i18n import SUPPORTED_LOCALES, catalog
from backend.logging import get_logger
from backend.models import ConversationState
from backend.state import Resources
from dialogs import handover, transcript
from dialogs.context import TurnContext, TurnInput
from dialogs.flows import default_flows
from dialogs.flows.base import NAV, Flow, Registry, agent_row, menu_row, say
from dialogs.flows.identify import NAME as IDENTIFY
from dialogs.state import FlowState, FlowStore, Revision, revise
from dialogs.types import Button, Inbound, Outbound, ParsedIntent, Payload, Text, payload

log = get_logger(__name__)

# Longer messages are refused politely (and stored truncated): nobody types 2,000 characters
# to a bot, and the NLU's cost grows with the length.
MAX_TEXT_CHARS = 2000
CONFIDENCE_THRESHOLD = 0.5
MISSES_BEFORE_AGENT = 2
WAITING_NOTICE_SECONDS = 5 * 60
WAITING_NOTICE_KEY = "dialogs:waiting-notice:{}"
# Telegram commands (not user-facing text): /start and /menu show the menu (docs/isp-rules.md).
# Every command of bot/commands.py's menu is here (a test checks it).
COMMANDS = {"/start": ("nav", "menu"), "/menu": ("nav", "menu"), "/help": ("nav", "menu"),
            "/cancel": ("nav", "cancel"), "/pay": ("top_up", "start"),
            "/support": ("nav", "agent"), "/agent": ("nav", "agent"),
            "/balance": ("check_balance", "start"), "/tariffs": ("list_tariffs", "start"),
            "/tickets": ("ticket_status", "start"), "/documents": ("get_documents", "start"),
            "/language": ("settings", "start", "lang")}  # fmt: skip
_NAV_WORDS = ("cancel", "back", "menu", "agent")
_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)


class IntentParser(Protocol):
    """The NLU as the engine needs it (dialogs.nlu, or a Rasa bridge): Rasa's parse shape."""

    def parse(self, text: str, lang: str | None = None) -> dict[str, Any]: ...


def _nav_words() -> dict[str, str]:
    """Universal words of both languages (the catalogs' `dialogs-words-*`) -> action."""
    words: dict[str, str] = {}
    for locale in SUPPORTED_LOCALES:
        for action in _NAV_WORDS:
            for word in catalog().text(f"dialogs-words-{action}", locale).split(","):
                if word.strip():
                    words[_normalize(word)] = action
    return words


def _normalize(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", text.lower()).split())


class Engine:
    def __init__(
        self,
        resources: Resources,
        parser: IntentParser,
        registry: Registry | None = None,
        *,
        confidence_threshold: float = CONFIDENCE_THRESHOLD,
    ) -> None:
        self.resources = resources
        self.settings = resources.settings
        self.parser = parser
        self.registry = registry or default_flows()
        self.threshold = confidence_threshold
        self.store = FlowStore(resources.redis)
        self.nav_words = _nav_words()

    # --- the entry point --------------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> list[Outbound]:
        try:
            return await self._turn(inbound)
        except Exception:  # a turn never fails the adapter; the customer hears why
            log.exception("dialogs.turn_failed", channel=inbound.channel, chat_id=inbound.chat_id)
            return await self._error_reply(inbound)

    async def _turn(self, inbound: Inbound) -> list[Outbound]:
        if inbound.channel not in ("telegram", "webchat") or not inbound.chat_id:
            return []
        hooks: list[Callable[[], Awaitable[None]]] = []
        save: Revision | None = None
        async with unit_of_work(self.resources.sessionmaker) as session:
            conv, message_id = await transcript.upsert_with_inbound(
                session,
                channel=inbound.channel,
                chat_id=inbound.chat_id[:128],
                customer_id=inbound.customer_id,
                locale=_locale_or_none(inbound.locale),
                external_id=inbound.external_id,
                text=inbound.text,
                payload=_inbound_payload(inbound),
            )
            if message_id is None:
                # A redelivery: the first delivery's replies, and nothing runs again.
                assert inbound.external_id is not None
                return await transcript.stored_replies(session, conv.id, inbound.external_id)
            ctx = TurnContext(
                session=session,
                settings=self.settings,
                redis=self.resources.redis,
                limiter=self.resources.limiter,
                conversation=conv,
                locale=catalog().locale_for(conv.locale or self.settings.default_locale),
                inbound_message_id=message_id,
                after_commit=hooks,
            )
            if conv.state in (ConversationState.waiting_agent, ConversationState.agent):
                replies = await self._held(ctx, message_id, inbound)
                await transcript.add_outbound(
                    session, conv.id, replies, reply_to=inbound.external_id
                )
            else:
                state = await self.store.load(conv.id, conv.flow)
                before = FlowState.from_json(state.to_json())
                if state.belongs_to_another(conv.customer_id):
                    # another customer's (or, now anonymous, a customer's) flow: its slots and
                    # buttons are not this turn's to use
                    state = FlowState()
                replies = await self._bot_turn(ctx, state, inbound)
                state.customer = conv.customer_id if state.active else None
                if not state.same_as(before):
                    save = revise(state, before)
                await transcript.add_outbound(
                    session, conv.id, replies, reply_to=inbound.external_id, flow=save
                )
        if save is not None:
            await self.store.save(conv.id, save)
        for hook in hooks:
            try:
                await hook()
            except Exception:  # the message is stored; the console polls too
                log.warning("dialogs.after_commit_failed", conversation_id=conv.id)
        return replies

    # --- held by an agent -------------------------------------------------------------------

    async def _held(self, ctx: TurnContext, message_id: int, inbound: Inbound) -> list[Outbound]:
        conv = ctx.conversation
        await outbox.enqueue(
            ctx.session,
            handover.CUSTOMER_MESSAGE,
            {"conversation_id": conv.id, "message_id": message_id, "channel": conv.channel},
            f"conv-in:{message_id}",
        )
        event = json.dumps(
            {"type": "customer_message", "conversation_id": conv.id, "message_id": message_id,
             "text": (inbound.text or "")[: transcript.MAX_STORED_TEXT]},
            ensure_ascii=False,
        )  # fmt: skip

        async def publish() -> None:
            await ctx.redis.publish(handover.EVENTS_CHANNEL.format(conv.id), event)

        ctx.after_commit.append(publish)
        if conv.state is not ConversationState.waiting_agent:
            return []
        first = await ctx.redis.set(
            WAITING_NOTICE_KEY.format(conv.id), "1", nx=True, ex=WAITING_NOTICE_SECONDS
        )
        if not first:
            return []
        return [say(ctx.t("dialogs-handover-still-waiting"))]

    # --- with the bot -----------------------------------------------------------------------

    async def _bot_turn(
        self, ctx: TurnContext, state: FlowState, inbound: Inbound
    ) -> list[Outbound]:
        if state.flow == IDENTIFY and ctx.customer_id is not None:
            # The chat was linked since: run what the customer asked for before.
            then = self.registry.get(state.slots.get("then"))
            state.finish()
            if then is not None:
                return await self._start(ctx, state, then, TurnInput())
        if inbound.payload is not None:
            return await self._button(ctx, state, inbound.payload)
        text = (inbound.text or "").strip()
        if not text:
            key = (
                "dialogs-unsupported-input"
                if inbound.contact or inbound.attachments
                else ("dialogs-empty-input")
            )
            return [say(ctx.t(key)), *await self._current_question(ctx, state)]
        if len(text) > MAX_TEXT_CHARS:
            return [say(ctx.t("dialogs-too-long", max=MAX_TEXT_CHARS))]
        if not any(ch.isalnum() for ch in text):
            return [say(ctx.t("dialogs-no-words")), *await self._current_question(ctx, state)]
        command = COMMANDS.get(text.split()[0].split("@")[0].lower()) if text[0] == "/" else None
        if command is not None:
            return await self._button(ctx, state, payload(*command))
        action = self.nav_words.get(_normalize(text))
        if action is not None:
            return await self._nav(ctx, state, action)
        turn = TurnInput(text=text, intent=self._parse(text, ctx.locale))
        if state.active:
            flow = self.registry.get(state.flow)
            if flow is None:
                state.finish()  # a flow removed since this state was written
            else:
                replies = await flow.handle(ctx, state, turn)
                if replies is not None:
                    state.misses = 0
                    return replies
        intent = turn.intent
        if intent.name and intent.name != "out_of_scope" and intent.confidence >= self.threshold:
            target = self.registry.for_intent(intent.name)
            if target is not None:
                state.misses = 0
                return await self._start(ctx, state, target, turn)
        return await self._miss(ctx, state)

    def _parse(self, text: str, locale: str) -> ParsedIntent:
        try:
            return ParsedIntent.from_rasa(self.parser.parse(text, locale))
        except Exception:  # an NLU failure is a miss, not a failed turn
            log.exception("dialogs.nlu_failed")
            return ParsedIntent()

    async def _start(
        self, ctx: TurnContext, state: FlowState, flow: Flow, turn: TurnInput
    ) -> list[Outbound]:
        if flow.needs_customer and ctx.customer_id is None:
            identify = self.registry.get(IDENTIFY)
            assert identify is not None
            state.start(IDENTIFY, "link", {"then": flow.name})
            return [*await flow.before_identify(ctx), *await identify.ask(ctx, state)]
        if not flow.keeps_state:
            state.finish()  # a new request replaces the flow in progress
        return await flow.start(ctx, state, turn)

    async def _button(self, ctx: TurnContext, state: FlowState, raw: str) -> list[Outbound]:
        button = Payload.decode(raw)
        if button is None:
            return await self._stale(ctx, state)
        if button.flow == NAV:
            return await self._nav(ctx, state, button.step)
        flow = self.registry.get(button.flow)
        if flow is None:
            return await self._stale(ctx, state)
        if button.step == "start":
            state.misses = 0
            return await self._start(ctx, state, flow, TurnInput(button=button))
        if state.flow == button.flow and state.step == button.step:
            replies = await flow.handle(ctx, state, TurnInput(button=button))
            if replies is not None:
                state.misses = 0
                return replies
        return await self._stale(ctx, state)

    async def _nav(self, ctx: TurnContext, state: FlowState, action: str) -> list[Outbound]:
        if action == "menu":
            state.finish()
            state.misses = 0
            return await self._menu(ctx, state)
        if action == "agent":
            flow = self.registry.get("talk_to_agent")
            if flow is not None:
                return await self._start(ctx, state, flow, TurnInput())
        if action == "back" and state.active and state.back():
            flow = self.registry.get(state.flow)
            if flow is not None:
                return await flow.ask(ctx, state)
        if action in ("cancel", "back"):
            was_active = state.active
            state.finish()
            key = "dialogs-cancelled" if was_active else "dialogs-nothing-to-cancel"
            return [say(ctx.t(key), menu_row(ctx))]
        return await self._stale(ctx, state)

    async def _menu(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        greeting = self.registry.get("greeting")
        if greeting is None:
            return [say(ctx.t("dialogs-menu-intro"))]
        return await greeting.start(ctx, state, TurnInput(intent=ParsedIntent(name="help")))

    async def _current_question(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        flow = self.registry.get(state.flow) if state.active else None
        return await flow.ask(ctx, state) if flow is not None else []

    async def _stale(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        """A button from an old message or an old release: say so, change nothing."""
        question = await self._current_question(ctx, state)
        return [say(ctx.t("dialogs-stale-button"), () if question else menu_row(ctx)), *question]

    async def _miss(self, ctx: TurnContext, state: FlowState) -> list[Outbound]:
        state.misses += 1
        if state.misses >= MISSES_BEFORE_AGENT:
            return [say(ctx.t("dialogs-fallback-agent"), agent_row(ctx), menu_row(ctx))]
        question = await self._current_question(ctx, state)
        if question:
            return [say(ctx.t("dialogs-fallback-in-flow")), *question]
        return [say(ctx.t("dialogs-fallback"), menu_row(ctx))]

    async def _error_reply(self, inbound: Inbound) -> list[Outbound]:
        locale = catalog().locale_for(inbound.locale or self.settings.default_locale)
        text = catalog().text("dialogs-error", locale)
        agent = Button(
            label=catalog().text("dialogs-button-agent", locale), payload=payload(NAV, "agent")
        )
        reply: list[Outbound] = [Text(text=text, buttons=((agent,),))]
        try:  # best effort: the transcript shows the failure too, if the database is there
            async with unit_of_work(self.resources.sessionmaker) as session:
                conv = await transcript.upsert_conversation(
                    session,
                    channel=inbound.channel,
                    chat_id=inbound.chat_id[:128],
                    customer_id=inbound.customer_id,
                    locale=None,
                )
                await transcript.add_outbound(session, conv.id, reply)
        except Exception:
            log.warning("dialogs.error_reply_not_stored", chat_id=inbound.chat_id)
        return reply


def _locale_or_none(locale: str | None) -> str | None:
    if not locale:
        return None
    short = locale.split("-")[0].split("_")[0].lower()
    return short if short in SUPPORTED_LOCALES else None


def _inbound_payload(inbound: Inbound) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if inbound.payload is not None:
        data["button"] = inbound.payload[:128]
    if inbound.contact is not None:
        data["contact"] = {"phone": inbound.contact.phone, "user_id": inbound.contact.user_id}
    if inbound.attachments:
        data["attachments"] = [
            {"kind": a.kind, "file_id": a.file_id, "filename": a.filename}
            | ({"content_type": a.content_type} if a.content_type is not None else {})
            | ({"size": a.size} if a.size is not None else {})
            for a in inbound.attachments
        ]
    return data
