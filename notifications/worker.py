"""The outbox worker: claims due rows, renders them, sends them through their channel, marks
them. Delivery is at-least-once: a crash between a send and its mark sends that message again
after the lease runs out.

Runs in-process under `python main.py` (a background role of the app) or alone as
`python main.py worker`; any number of workers may run against PostgreSQL.

Besides the customers' notifications it consumes the conversation rows that are the web
adapter's (`deliver_conversation_events`): a conversation waiting for an agent is announced to
every agent console on `agents:events`, and an agent's reply in a web chat is marked done (the
widget's socket shows it from the transcript). Telegram's agent replies stay for the bot."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import and_, or_

from backend.clock import utcnow
from backend.config import Settings
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.state import Resources

# The web adapter's rows and where the agent consoles hear of them (dialogs/handover.py). A
# customer's message while an agent holds the conversation (CUSTOMER_MESSAGE): the console
# already heard of it (conv:{id}, after the turn's commit) and reads it from the transcript, so
# the row only records it; without a consumer these rows would pile up pending for ever.
from dialogs.handover import AGENT_REPLY, AGENTS_CHANNEL, CUSTOMER_MESSAGE, WAITING_AGENT
from notifications import repository
from notifications.channels import (
    WEBCHAT,
    ChannelRegistry,
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    default_channels,
)
from notifications.events import ADAPTER, EVENTS, INTERNAL, EventNotice, pick_channel
from notifications.render import Renderer, RenderError

log = get_logger("notifications.worker")


Clock = Callable[[], datetime]
Role = Callable[[Resources, asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class WorkerOptions:
    batch_size: int = 50
    concurrency: int = 10
    # The lease must outlast a send (send_timeout) with room to spare, or a slow send is
    # claimed and sent again by another worker.
    lease_seconds: float = 60.0
    send_timeout: float = 20.0
    max_attempts: int = 8
    backoff_base: float = 5.0
    backoff_cap: float = 3600.0
    poll_interval: float = 1.0
    outage_backoff_cap: float = 30.0


DEFAULT_OPTIONS = WorkerOptions()


def backoff_delay(attempts: int, options: WorkerOptions = DEFAULT_OPTIONS) -> float:
    """Seconds until the next try after `attempts` tries: exponential, capped, with jitter so
    that a burst of failures (a provider outage) does not retry in lockstep."""
    delay = min(options.backoff_cap, options.backoff_base * 2.0 ** max(attempts - 1, 0))
    return delay / 2 + random.random() * delay / 2  # noqa: S311 - jitter, not a secret


def _secret_values(payload: dict[str, Any]) -> list[str]:
    args = payload.get("args")
    if not isinstance(args, dict):
        return []
    names = payload.get("secret_args") or []
    return [str(args[n]) for n in names if n in args and str(args[n])]


def _describe(exc: BaseException, payload: dict[str, Any]) -> str:
    """The stored reason of a failure, without any secret value a channel may have echoed."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    for value in _secret_values(payload):
        text = text.replace(value, "[secret]")
    return text


class Skipped(Exception):
    """Nothing to send, on purpose (the customer turned this kind of notification off)."""


def _direct(message: repository.ClaimedMessage, renderer: Renderer) -> Rendered:
    """A payload that names its channel and address (a password-reset code goes to the
    address it was asked for, not to the customer's preferred channel)."""
    payload = message.payload
    channel, to = payload.get("channel"), payload.get("to")
    if not isinstance(channel, str) or not isinstance(to, str) or not to:
        raise PermanentDeliveryError("payload needs a channel and a recipient ('to')")
    locale = payload.get("locale")
    locale = locale if isinstance(locale, str) else None
    template = payload.get("template")
    if isinstance(template, str):
        args = payload.get("args") or {}
        if not isinstance(args, dict):
            raise PermanentDeliveryError("payload 'args' must be an object")
        text = renderer.render(template, args, locale)
        return Rendered(
            outbox_id=message.id,
            kind=message.kind,
            channel=channel,
            to=to,
            locale=text.locale,
            text=text.text,
            subject=text.subject,
            payload=payload,
        )
    # Text written by a person (an agent's reply) is data, not a template.
    if isinstance(payload.get("text"), str):
        return Rendered(
            outbox_id=message.id,
            kind=message.kind,
            channel=channel,
            to=to,
            locale=locale or renderer.default_locale,
            text=payload["text"],
            payload=payload,
        )
    raise PermanentDeliveryError("payload needs a 'template' or a 'text'")


async def _for_customer(
    resources: Resources,
    channels: ChannelRegistry,
    renderer: Renderer,
    message: repository.ClaimedMessage,
    notice: EventNotice,
) -> Rendered:
    """A domain event: the customer's locale, preferences and first reachable channel."""
    payload = message.payload
    customer_id = payload.get("customer_id")
    if not isinstance(customer_id, int) or isinstance(customer_id, bool):
        raise PermanentDeliveryError("event payload needs a customer_id")
    async with resources.sessionmaker() as session:
        recipient = await repository.recipient(session, customer_id)
    if recipient is None:
        raise PermanentDeliveryError(f"customer {customer_id} not found")
    if recipient.preferences.get(notice.category, True) is False:
        raise Skipped(f"customer turned off {notice.category} notifications")
    picked = pick_channel(recipient, set(channels))
    webchat = await _webchat_of(resources, channels, customer_id)
    if picked is None and webchat is None:
        raise PermanentDeliveryError(f"customer {customer_id} has no reachable channel")
    try:
        args = notice.args(
            payload, resources.settings, renderer.catalog.locale_for(recipient.locale)
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentDeliveryError(f"malformed {message.kind} payload: {exc!r}") from None
    text = renderer.render(notice.template, args, recipient.locale)
    main = picked or (WEBCHAT, str(webchat))
    return Rendered(
        outbox_id=message.id,
        kind=message.kind,
        channel=main[0],
        to=main[1],
        locale=text.locale,
        text=text.text,
        subject=text.subject,
        payload=payload,
        also=((WEBCHAT, str(webchat)),) if picked is not None and webchat is not None else (),
    )


async def _webchat_of(
    resources: Resources, channels: ChannelRegistry, customer_id: int
) -> int | None:
    """The web chat conversation that also gets the customer's notices: the most recent one
    identified to them within WEBCHAT_NOTIFY_DAYS (docs/webchat-protocol.md)."""
    days = resources.settings.webchat_notify_days
    if WEBCHAT not in channels or days <= 0:
        return None
    async with resources.sessionmaker() as session:
        return await repository.webchat_conversation(
            session, customer_id, utcnow() - timedelta(days=days)
        )


async def _send(channels: ChannelRegistry, rendered: Rendered, options: WorkerOptions) -> None:
    """The extra channels first (the web chat: idempotent, so a retry of the main channel does
    not repeat it), then the main one. An extra that fails for good is logged, and the main
    channel still goes; one that may recover retries the whole row before the main send."""
    for name, to in rendered.also:
        extra = channels.get(name)
        if extra is None:
            continue
        try:
            await asyncio.wait_for(
                extra.send(dataclasses.replace(rendered, channel=name, to=to, also=())),
                options.send_timeout,
            )
        except PermanentDeliveryError as exc:
            log.warning(
                "notification not delivered on an extra channel",
                outbox_id=rendered.outbox_id,
                channel=name,
                error=str(exc),
            )
    channel = channels.get(rendered.channel)
    if channel is None:
        raise PermanentDeliveryError(f"no channel {rendered.channel!r} configured")
    await asyncio.wait_for(channel.send(rendered), options.send_timeout)


async def _prepare(
    resources: Resources,
    channels: ChannelRegistry,
    renderer: Renderer,
    message: repository.ClaimedMessage,
) -> Rendered:
    if "channel" in message.payload:
        return _direct(message, renderer)
    if message.kind in INTERNAL:
        raise Skipped("internal event, not a customer notification")
    notice = EVENTS.get(message.kind)
    if notice is None:
        raise PermanentDeliveryError(
            f"no notification for kind {message.kind!r} and no channel in the payload"
        )
    return await _for_customer(resources, channels, renderer, message, notice)


async def _deliver(
    resources: Resources,
    channels: ChannelRegistry,
    renderer: Renderer,
    options: WorkerOptions,
    message: repository.ClaimedMessage,
    clock: Clock,
) -> None:
    outcome: str
    error: str | None = None
    if message.attempts > options.max_attempts:
        # Claimed again after its lease ran out: some send keeps killing the worker.
        outcome, error = "dead", "retries exhausted: the lease expired on every attempt"
    else:
        try:
            rendered = await _prepare(resources, channels, renderer, message)
            await _send(channels, rendered, options)
            outcome = "done"
        except Skipped as exc:
            outcome, error = "skipped", f"skipped: {exc}"
        except (PermanentDeliveryError, RenderError) as exc:
            outcome, error = "dead", _describe(exc, message.payload)
        except (TemporaryDeliveryError, TimeoutError) as exc:
            outcome, error = "retry", _describe(exc, message.payload)
        except Exception as exc:
            # A channel bug or a lost connection must not lose the message: retry, and
            # dead-letter in the end.
            log.exception("notification delivery failed unexpectedly", outbox_id=message.id)
            outcome, error = "retry", _describe(exc, message.payload)
    if outcome == "retry" and message.attempts >= options.max_attempts:
        outcome, error = "dead", f"retries exhausted after {message.attempts} attempts: {error}"

    now = clock()
    async with unit_of_work(resources.sessionmaker) as session:
        if outcome in ("done", "skipped"):
            marked = await repository.mark_done(session, message, now, note=error)
        elif outcome == "retry":
            delay = backoff_delay(message.attempts, options)
            marked = await repository.mark_retry(
                session, message, error or "", now + timedelta(seconds=delay)
            )
        else:
            marked = await repository.mark_dead(session, message, error or "", now)
    fields = {"outbox_id": message.id, "kind": message.kind, "attempts": message.attempts}
    if not marked:
        log.warning("outbox row was claimed again before it was marked", **fields)
    elif outcome == "done":
        log.debug("notification delivered", **fields)
    elif outcome == "skipped":
        log.info("notification skipped", reason=error, **fields)
    elif outcome == "retry":
        log.info("notification delivery will be retried", error=error, **fields)
    else:
        log.warning("notification dead-lettered", error=error, **fields)


async def deliver_once(
    resources: Resources,
    channels: ChannelRegistry,
    options: WorkerOptions = DEFAULT_OPTIONS,
    *,
    renderer: Renderer | None = None,
    clock: Clock = utcnow,
) -> int:
    """Claim one batch and deliver it; returns how many rows were claimed. Database errors
    propagate (the caller waits and tries again); channel errors never do."""
    renderer = renderer or Renderer(resources.settings.default_locale)
    now = clock()
    async with unit_of_work(resources.sessionmaker) as session:
        claimed = await repository.claim_batch(
            session,
            limit=options.batch_size,
            now=now,
            lease_until=now + timedelta(seconds=options.lease_seconds),
            exclude_kinds=ADAPTER,
        )
    if not claimed:
        return 0
    bound = asyncio.Semaphore(options.concurrency)

    async def one(message: repository.ClaimedMessage) -> None:
        async with bound:
            await _deliver(resources, channels, renderer, options, message, clock)

    results = await asyncio.gather(*(one(m) for m in claimed), return_exceptions=True)
    # Unmarked rows stay claimed until their lease runs out, then go out again.
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return len(claimed)


def _web_adapter_rows() -> Any:
    outbox = repository.outbox
    return or_(
        outbox.c.kind == WAITING_AGENT,
        outbox.c.kind == CUSTOMER_MESSAGE,
        and_(outbox.c.kind == AGENT_REPLY, outbox.c.payload["channel"].as_string() == WEBCHAT),
    )


async def deliver_conversation_events(
    resources: Resources, options: WorkerOptions = DEFAULT_OPTIONS, *, clock: Clock = utcnow
) -> int:
    """Claim one batch of the web adapter's conversation rows: announce each conversation
    waiting for an agent on `agents:events` (retried while Redis is away), and mark an
    agent's web chat replies and the customers' messages to agents (of every channel) done.
    Returns how many rows were claimed."""
    now = clock()
    async with unit_of_work(resources.sessionmaker) as session:
        claimed = await repository.claim_batch(
            session,
            limit=options.batch_size,
            now=now,
            lease_until=now + timedelta(seconds=options.lease_seconds),
            only=_web_adapter_rows(),
        )
    for message in claimed:
        error: str | None = None
        note: str | None = None
        if message.kind == WAITING_AGENT:
            conversation_id = message.payload.get("conversation_id")
            event = {"type": "queue", "event": "waiting_agent", "conversation_id": conversation_id}
            try:
                await resources.redis.publish(AGENTS_CHANNEL, json.dumps(event))
            except (RedisError, OSError) as exc:
                error = _describe(exc, message.payload)
        elif message.kind == CUSTOMER_MESSAGE:
            note = "shown by the agent console from the transcript"
        else:
            note = "shown by the web chat socket from the transcript"
        async with unit_of_work(resources.sessionmaker) as session:
            if error is None:
                await repository.mark_done(session, message, clock(), note=note)
            elif message.attempts >= options.max_attempts:
                await repository.mark_dead(session, message, error, clock())
            else:
                delay = timedelta(seconds=backoff_delay(message.attempts, options))
                await repository.mark_retry(session, message, error, clock() + delay)
    return len(claimed)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def run_worker(
    resources: Resources,
    stop: asyncio.Event,
    *,
    channels: ChannelRegistry | None = None,
    options: WorkerOptions = DEFAULT_OPTIONS,
) -> None:
    """Deliver until `stop` is set. A database or Redis outage is logged and waited out with
    backoff; the loop never ends because of it."""
    channels = channels if channels is not None else default_channels(resources.settings, resources)
    renderer = Renderer(resources.settings.default_locale)
    failures = 0
    log.info("notification worker started", channels=sorted(channels))
    while not stop.is_set():
        try:
            claimed = await deliver_once(resources, channels, options, renderer=renderer)
            claimed = max(claimed, await deliver_conversation_events(resources, options))
        except Exception as exc:
            failures += 1
            delay = min(options.outage_backoff_cap, options.poll_interval * 2.0 ** (failures - 1))
            log.warning(
                "notification worker: database or Redis unavailable; waiting",
                error=f"{type(exc).__name__}: {str(exc)[:200]}",
                retry_in=delay,
                failures=failures,
            )
            await _wait(stop, delay)
            continue
        if failures:
            log.info("notification worker recovered", after_failures=failures)
            failures = 0
        if claimed < options.batch_size:
            await _wait(stop, options.poll_interval)
    log.info("notification worker stopped")


async def run_standalone(settings: Settings, roles: Sequence[Role] | None = None) -> None:
    """`python main.py worker`: run the notification worker (and any other background `roles`
    given, such as the billing scheduler) until SIGINT or SIGTERM, finishing the work in hand."""
    resources = Resources.create(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(role(resources, stop), name=getattr(role, "__name__", "role"))
        for role in (roles if roles is not None else [run_worker])
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        # a role that crashed takes the process down (its supervisor restarts it), after the
        # others have stopped cleanly
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await resources.close()
