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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import and_, not_, or_, select

from backend.broadcasts.repository import KIND as BROADCAST
from backend.broadcasts.repository import texts_of as broadcast_texts
from backend.clock import utcnow
from backend.config import Settings
from backend.db import unit_of_work
from backend.logging import get_logger
from backend.models import OutboxStatus
from backend.state import Resources

# The web adapter's rows and where the agent consoles hear of them (dialogs/handover.py). A
# customer's message while an agent holds the conversation (CUSTOMER_MESSAGE): the console
# already heard of it (conv:{id}, after the turn's commit) and reads it from the transcript, so
# the row only records it; without a consumer these rows would pile up pending for ever.
from dialogs.handover import AGENT_REPLY, AGENTS_CHANNEL, CUSTOMER_MESSAGE, WAITING_AGENT
from notifications import repository, routing
from notifications.channels import (
    WEBCHAT,
    ChannelRegistry,
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
    close_channels,
)
from notifications.events import (
    ALWAYS_SENT,
    EVENTS,
    INTERNAL,
    MARKETING,
    EventNotice,
    is_urgent,
    told_in,
)
from notifications.registry import default_channels
from notifications.render import RenderedText, Renderer, RenderError
from notifications.routing import Recipient, Step
from notifications.wakeup import OutboxListener

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


SERVICE = "service"  # an admin's service announcement to a segment
# Answers to what the customer did just now (they paid and watch for the credit): never held
# by quiet hours, though not urgent (they go to one channel, not to every live one).
ANSWERS: frozenset[str] = frozenset({"payment.credited"})
# Categories a customer cannot turn off: security notices (a sign-in they did not make must
# reach them) and an admin's service announcement.
UNSILENCEABLE: frozenset[str] = ALWAYS_SENT | {SERVICE}


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


@dataclass
class _Job:
    """One claimed row on its way: what to send, where, and how it ended."""

    message: repository.ClaimedMessage
    base: Rendered | None = None
    steps: tuple[Step, ...] = ()
    also: tuple[Step, ...] = ()
    urgent: bool = False
    # Fallback moves through `steps`: the next one to try (an urgent job starts with all its
    # live steps at once).
    next_step: int = 0
    reached: bool = False
    # outcome: done | skipped | dead | retry | postpone (None while sending)
    outcome: str | None = None
    error: str | None = None
    retry_after: float | None = None
    until: datetime | None = None
    # the notice waits as unread in the customer's web chat (no widget was open)
    stored_unread: bool = False
    unreachable: list[str] = field(default_factory=list)

    def end(self, outcome: str, error: str | None = None) -> None:
        self.outcome, self.error = outcome, error


def _webchat_since(
    resources: Resources, channels: ChannelRegistry, now: datetime
) -> datetime | None:
    """Customers' web chat conversations count for notices when identified within
    WEBCHAT_NOTIFY_DAYS (docs/webchat-protocol.md)."""
    days = resources.settings.webchat_notify_days
    if WEBCHAT not in channels or days <= 0:
        return None
    return now - timedelta(days=days)


@dataclass(frozen=True)
class _Notice:
    """What a customer's row says: its category (the preference that can silence it), whether
    it is urgent, and how to write it in a language."""

    category: str
    urgent: bool
    write: Callable[[str], RenderedText]


def _event_notice(
    notice: EventNotice, payload: dict[str, Any], settings: Settings, renderer: Renderer
) -> _Notice:
    def write(locale: str) -> RenderedText:
        try:
            args = notice.args(payload, settings, renderer.catalog.locale_for(locale))
        except (KeyError, TypeError, ValueError) as exc:
            raise PermanentDeliveryError(f"malformed payload: {exc!r}") from None
        return renderer.render(notice.template, args, locale)

    return _Notice(notice.category, is_urgent(notice, payload), write)


def _broadcast_notice(
    payload: dict[str, Any], texts: dict[str, str] | None, renderer: Renderer
) -> _Notice:
    """An admin's broadcast: their text in the customer's language (else the default one).
    A marketing one only reaches customers who opted in, checked again at send time; a
    service announcement cannot be turned off."""
    if texts is None:
        raise PermanentDeliveryError(f"broadcast {payload.get('broadcast_id')!r} not found")

    def write(locale: str) -> RenderedText:
        chosen = renderer.catalog.locale_for(locale)
        text = texts.get(chosen) or texts.get(renderer.default_locale)
        if not text:
            raise PermanentDeliveryError("the broadcast has no text in the default language")
        rendered = renderer.render("broadcast-message", {"text": text}, chosen)
        return RenderedText(locale=chosen, text=text, subject=rendered.subject)

    marketing = payload.get("marketing") is True
    return _Notice(MARKETING if marketing else SERVICE, False, write)


def _plan_customer(
    job: _Job,
    resources: Resources,
    channels: ChannelRegistry,
    notice: _Notice,
    recipient: Recipient | None,
    now: datetime,
) -> None:
    """A customer's notice: their language, preferences, quiet hours and channels."""
    message = job.message
    payload = message.payload
    settings = resources.settings
    if recipient is None:
        raise PermanentDeliveryError(f"customer {payload.get('customer_id')} not found")
    prefs = recipient.preferences
    if notice.category == MARKETING and prefs.get(MARKETING) is not True:
        raise Skipped("customer did not opt in to marketing")
    if notice.category not in UNSILENCEABLE and prefs.get(notice.category, True) is False:
        raise Skipped(f"customer turned off {notice.category} notifications")
    told = told_in(payload)
    if told and not notice.urgent:
        # the conversation's own reply was this notice (the bot's answer to a Telegram
        # payment): told is delivered; an urgent one still goes to the other live channels
        raise Skipped(f"already told in the conversation ({', '.join(sorted(told))})")
    routed = routing.plan(
        recipient,
        kind=message.kind,
        category=notice.category,
        urgent=notice.urgent,
        available=set(channels),
        sms_kinds=settings.sms_kinds,
        told_in=told,
    )
    if not routed.steps and not routed.also:
        if told:
            raise Skipped("already told in the conversation")
        raise PermanentDeliveryError(f"customer {recipient.customer_id} has no reachable channel")
    if not notice.urgent and message.kind not in ANSWERS:
        span = routing.quiet_span(prefs, settings.notify_quiet_hours)
        until = routing.quiet_until(now, span, settings.billing_timezone)
        if until is not None:
            job.end("postpone", "quiet hours")
            job.until = until
            return
    # a notice asked for in a chat speaks the chat's language (the producer names it)
    language = payload.get("locale")
    locale = language if isinstance(language, str) and language else recipient.locale
    try:
        text = notice.write(locale)
    except PermanentDeliveryError as exc:
        raise PermanentDeliveryError(f"{message.kind}: {exc}") from None
    job.base = Rendered(
        outbox_id=message.id,
        kind=message.kind,
        channel="",
        to="",
        locale=text.locale,
        text=text.text,
        subject=text.subject,
        payload=payload,
        customer_id=recipient.customer_id,
    )
    job.steps, job.also, job.urgent = routed.steps, routed.also, notice.urgent


async def _prepare_batch(
    resources: Resources,
    channels: ChannelRegistry,
    renderer: Renderer,
    claimed: list[repository.ClaimedMessage],
    now: datetime,
) -> list[_Job]:
    jobs = [_Job(message) for message in claimed]
    customer_ids = [
        m.payload["customer_id"]
        for m in claimed
        if (m.kind in EVENTS or m.kind == BROADCAST)
        and "channel" not in m.payload
        and isinstance(m.payload.get("customer_id"), int)
        and not isinstance(m.payload.get("customer_id"), bool)
    ]
    found: dict[int, Recipient] = {}
    texts: dict[int, dict[str, str] | None] = {}
    broadcasts = {
        m.payload["broadcast_id"]
        for m in claimed
        if m.kind == BROADCAST and isinstance(m.payload.get("broadcast_id"), int)
    }
    if customer_ids or broadcasts:
        async with resources.sessionmaker() as session:
            found = await repository.recipients(
                session, customer_ids, _webchat_since(resources, channels, now)
            )
            for broadcast_id in broadcasts:
                texts[broadcast_id] = await broadcast_texts(session, broadcast_id)
    for job in jobs:
        message = job.message
        try:
            if message.kind == AGENT_REPLY:
                chat = message.payload.get("chat_id")
                if not isinstance(chat, int | str) or not str(chat):
                    raise PermanentDeliveryError("bad payload: no chat_id")
                job.base = Rendered(
                    outbox_id=message.id,
                    kind=message.kind,
                    channel="",
                    to="",
                    locale=renderer.default_locale,
                    text="",
                    payload=message.payload,
                )
                job.steps = (Step(str(message.payload.get("channel")), (str(chat),)),)
            elif "channel" in message.payload:
                rendered = _direct(message, renderer)
                job.base = rendered
                job.steps = (Step(rendered.channel, (rendered.to,)),)
            elif message.kind in INTERNAL:
                raise Skipped("internal event, not a customer notification")
            else:
                customer_id = message.payload.get("customer_id")
                if message.kind == BROADCAST:
                    broadcast_id = message.payload.get("broadcast_id")
                    notice = _broadcast_notice(
                        message.payload,
                        texts.get(broadcast_id) if isinstance(broadcast_id, int) else None,
                        renderer,
                    )
                elif message.kind in EVENTS:
                    notice = _event_notice(
                        EVENTS[message.kind], message.payload, resources.settings, renderer
                    )
                else:
                    raise PermanentDeliveryError(
                        f"no notification for kind {message.kind!r} and no channel in the payload"
                    )
                if not isinstance(customer_id, int) or isinstance(customer_id, bool):
                    raise PermanentDeliveryError("event payload needs a customer_id")
                _plan_customer(job, resources, channels, notice, found.get(customer_id), now)
        except Skipped as exc:
            job.end("skipped", f"skipped: {exc}")
        except (PermanentDeliveryError, RenderError) as exc:
            job.end("dead", _describe(exc, message.payload))
        except Exception as exc:
            log.exception("notification could not be prepared", outbox_id=message.id)
            job.end("retry", _describe(exc, message.payload))
    return jobs


@dataclass
class _Send:
    job: _Job
    target: repository.Target
    extra: bool  # the web chat beside the main channel: its failure never fails the job
    outcome: str = ""  # sent | failed | temporary | dead
    error: str | None = None
    retry_after: float | None = None


def _round(jobs: list[_Job], first: bool) -> list[_Send]:
    """The sends of this round: each open job's next step (an urgent job's live steps all at
    once in the first round), plus the extras in the first round."""
    sends: list[_Send] = []
    for job in jobs:
        if job.outcome is not None or job.base is None:
            continue
        steps: list[Step] = []
        if first and job.urgent:
            live = [s for s in job.steps if s.channel in routing.LIVE]
            steps = live or list(job.steps[:1])
            job.next_step = len(live) if live else 1
            if live:
                # the rest (e-mail, SMS) only if no live channel reaches the customer
                job.steps = tuple(live) + tuple(
                    s for s in job.steps if s.channel not in routing.LIVE
                )
        elif job.next_step < len(job.steps):
            steps = [job.steps[job.next_step]]
            job.next_step += 1
        for extra, group in ((False, steps), (True, job.also if first else ())):
            for step in group:
                for address in step.addresses:
                    target = repository.Target(
                        job.message.id,
                        job.base.customer_id,
                        job.message.kind,
                        step.channel,
                        address,
                    )
                    sends.append(_Send(job, target, extra))
    return sends


def _failure(exc: BaseException, payload: dict[str, Any]) -> tuple[str, str, float | None]:
    if isinstance(exc, UnreachableError):
        return "failed", _describe(exc, payload), None
    if isinstance(exc, PermanentDeliveryError):
        return "dead", _describe(exc, payload), None
    if isinstance(exc, TemporaryDeliveryError):
        return "temporary", _describe(exc, payload), exc.retry_after
    if isinstance(exc, TimeoutError):
        return "temporary", _describe(exc, payload), None
    log.error(
        "notification channel failed unexpectedly",
        error=f"{type(exc).__name__}: {str(exc)[:200]}",
    )
    return "temporary", _describe(exc, payload), None


async def _send_round(
    resources: Resources,
    channels: ChannelRegistry,
    options: WorkerOptions,
    sends: list[_Send],
    clock: Clock,
) -> None:
    """Send this round: settled addresses are skipped; a batch channel (push) gets its
    messages in chunks; every other channel one message at a time per address, in row order
    (a chat's replies keep their order: after a temporary failure the address's later
    messages wait too), addresses in parallel. Each outcome is recorded as soon as it is
    known, so a worker killed mid-batch sends again only what was in flight."""
    async with unit_of_work(resources.sessionmaker) as session:
        settled = await repository.begin_deliveries(session, [s.target for s in sends], clock())
    pending: list[_Send] = []
    for send in sends:
        status = settled.get(send.target.key)
        if status == repository.SENT:
            send.outcome = "sent"
        elif status == repository.FAILED:
            send.outcome, send.error = "failed", "unreachable (recorded earlier)"
        else:
            pending.append(send)

    async def record(done: list[_Send]) -> None:
        async with unit_of_work(resources.sessionmaker) as session:
            await repository.finish_deliveries(
                session,
                [
                    (
                        s.target.key,
                        {"sent": repository.SENT, "failed": repository.FAILED}.get(
                            s.outcome, "dead" if s.outcome == "dead" else "retry"
                        ),
                        s.error,
                    )
                    for s in done
                ],
                clock(),
            )

    def rendered(send: _Send) -> Rendered:
        assert send.job.base is not None
        return dataclasses.replace(
            send.job.base, channel=send.target.channel, to=send.target.address
        )

    by_channel: dict[str, list[_Send]] = {}
    for send in pending:
        by_channel.setdefault(send.target.channel, []).append(send)
    bound = asyncio.Semaphore(options.concurrency)
    work: list[Coroutine[Any, Any, None]] = []

    async def batch(channel: Any, chunk: list[_Send]) -> None:
        try:
            results = await asyncio.wait_for(
                channel.send_many([rendered(s) for s in chunk]), options.send_timeout * 3
            )
        except Exception as exc:  # the whole call failed: every message in it may retry
            results = [exc] * len(chunk)
        for send, result in zip(chunk, results, strict=True):
            if result is None:
                send.outcome = "sent"
            else:
                send.outcome, send.error, send.retry_after = _failure(
                    result, send.job.message.payload
                )
        await record(chunk)

    async def one_address(channel: Any, queue: list[_Send]) -> None:
        held: _Send | None = None
        for send in queue:
            if held is not None:
                send.outcome = "temporary"
                send.error = "waiting behind an earlier message to the same address"
                send.retry_after = held.retry_after
                continue
            async with bound:
                try:
                    await asyncio.wait_for(channel.send(rendered(send)), options.send_timeout)
                    send.outcome = "sent"
                except Exception as exc:
                    send.outcome, send.error, send.retry_after = _failure(
                        exc, send.job.message.payload
                    )
                await record([send])
            if send.outcome == "temporary":
                held = send

    for name, group in by_channel.items():
        channel = channels.get(name)
        if channel is None:
            for send in group:
                send.outcome, send.error = (
                    "dead",
                    f"PermanentDeliveryError: no channel {name!r} configured",
                )
            await record(group)
            continue
        if hasattr(channel, "send_many"):
            size = getattr(channel, "batch_size", 500)
            for i in range(0, len(group), size):
                work.append(batch(channel, group[i : i + size]))
        else:
            queues: dict[str, list[_Send]] = {}
            for send in sorted(group, key=lambda s: s.job.message.id):
                queues.setdefault(send.target.address, []).append(send)
            work.extend(one_address(channel, queue) for queue in queues.values())
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _settle(jobs: list[_Job], sends: list[_Send]) -> None:
    """After a round: a job whose step reached the customer is done (an urgent one once any
    live channel did); one that met only unreachable addresses goes on to its next step; a
    temporary failure retries the row later (what was sent is not sent again)."""
    by_job: dict[int, list[_Send]] = {}
    for send in sends:
        if send.target.channel == WEBCHAT and send.outcome == "failed":
            send.job.stored_unread = True
        if send.extra:
            if send.outcome not in ("sent", "failed"):
                log.warning(
                    "notification not delivered on an extra channel",
                    outbox_id=send.target.outbox_id,
                    channel=send.target.channel,
                    error=send.error,
                )
            continue
        by_job.setdefault(id(send.job), []).append(send)
    for job in {id(s.job): s.job for s in sends}.values():
        if job.outcome is not None:
            continue
        mine = by_job.get(id(job), [])
        if any(s.outcome == "sent" for s in mine):
            job.reached = True
        temporary = [s for s in mine if s.outcome == "temporary"]
        dead = [s for s in mine if s.outcome == "dead"]
        job.unreachable.extend(s.error or "" for s in mine if s.outcome == "failed")
        if job.reached:
            job.end("done")
        elif temporary:
            job.end("retry", temporary[0].error)
            hints = [s.retry_after for s in temporary if s.retry_after is not None]
            job.retry_after = max(hints) if hints else None
        elif dead:
            job.end("dead", dead[0].error)
        elif job.next_step >= len(job.steps) and job.stored_unread:
            job.end("done", "waits unread in the web chat: no other channel reached the customer")
        elif job.next_step >= len(job.steps):
            reason = "; ".join(job.unreachable[-3:]) or "no channel reached the customer"
            job.end("dead", f"unreachable on every channel: {reason}")


async def _finish(
    resources: Resources, options: WorkerOptions, jobs: list[_Job], clock: Clock
) -> None:
    """Mark every claimed row in one transaction."""
    now = clock()
    marked: list[tuple[_Job, bool]] = []
    async with unit_of_work(resources.sessionmaker) as session:
        for job in jobs:
            message = job.message
            outcome, error = job.outcome or "retry", job.error
            if outcome == "retry" and job.retry_after is not None:
                outcome = "flood"
            if outcome == "retry" and message.attempts >= options.max_attempts:
                outcome = "dead"
                error = f"retries exhausted after {message.attempts} attempts: {error}"
            job.outcome, job.error = outcome, error
            if outcome in ("done", "skipped"):
                ok = await repository.mark_done(session, message, now, note=error)
            elif outcome == "retry":
                delay = backoff_delay(message.attempts, options)
                ok = await repository.mark_retry(
                    session, message, error or "", now + timedelta(seconds=delay)
                )
            elif outcome == "flood":
                until = now + timedelta(seconds=float(job.retry_after or 1))
                ok = await repository.postpone(session, message, until, error or "retry after")
            elif outcome == "postpone":
                ok = await repository.postpone(session, message, job.until or now, error or "")
            else:
                ok = await repository.mark_dead(session, message, error or "", now)
            marked.append((job, ok))
    for job, ok in marked:
        fields = {
            "outbox_id": job.message.id,
            "kind": job.message.kind,
            "attempts": job.message.attempts,
        }
        if not ok:
            log.warning("outbox row was claimed again before it was marked", **fields)
        elif job.outcome == "done":
            log.debug("notification delivered", **fields)
        elif job.outcome in ("skipped", "postpone", "flood"):
            log.info("notification " + job.outcome, reason=job.error, **fields)
        elif job.outcome == "retry":
            log.info("notification delivery will be retried", error=job.error, **fields)
        else:
            log.warning("notification dead-lettered", error=job.error, **fields)


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
            only=_customer_rows(channels, now),
        )
    if not claimed:
        return 0
    jobs: list[_Job] = []
    for message in claimed:
        if message.attempts > options.max_attempts:
            # Claimed again after its lease ran out: some send keeps killing the worker.
            job = _Job(message)
            job.end("dead", "retries exhausted: the lease expired on every attempt")
            jobs.append(job)
    live = [m for m in claimed if m.attempts <= options.max_attempts]
    jobs.extend(await _prepare_batch(resources, channels, renderer, live, now))
    first = True
    # Each round tries one more channel for the jobs not yet delivered (five channels at most).
    for _ in range(len(routing.FALLBACK_ORDER) + 1):
        sends = _round(jobs, first)
        if not sends:
            break
        await _send_round(resources, channels, options, sends, clock)
        _settle(jobs, sends)
        first = False
    for job in jobs:
        if job.outcome is None:
            job.end("dead", "no channel reached the customer")
    await _finish(resources, options, sorted(jobs, key=lambda j: j.message.id), clock)
    return len(claimed)


def _customer_rows(channels: ChannelRegistry, now: datetime) -> Any:
    """What this worker delivers: everything but the web adapter's rows; the Telegram agent
    replies only with a Telegram channel (another worker with one takes them), and a reply only
    once no earlier reply to its chat is waiting (a flood wait) or in another worker's hands,
    so a chat's replies arrive in the order the agent wrote them."""
    outbox = repository.outbox
    rows = not_(_web_adapter_rows())
    if "telegram" not in channels:
        return and_(rows, outbox.c.kind != AGENT_REPLY)
    earlier = outbox.alias("earlier")
    held = (
        select(earlier.c.id)
        .where(
            earlier.c.kind == AGENT_REPLY,
            earlier.c.id < outbox.c.id,
            earlier.c.payload["chat_id"].as_string() == outbox.c.payload["chat_id"].as_string(),
            or_(
                and_(earlier.c.status == OutboxStatus.pending, earlier.c.available_at > now),
                and_(earlier.c.status == OutboxStatus.processing, earlier.c.locked_until >= now),
            ),
        )
        .exists()
    )
    return and_(rows, or_(outbox.c.kind != AGENT_REPLY, not_(held)))


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
    backoff; the loop never ends because of it. Between rounds it sleeps until a row is
    inserted (PostgreSQL's NOTIFY, notifications/wakeup.py) or the poll interval passes."""
    owned = channels is None
    channels = channels if channels is not None else default_channels(resources.settings, resources)
    renderer = Renderer(resources.settings.default_locale)
    listener = OutboxListener(resources.engine.url)
    listener.start(stop)
    failures = 0
    log.info("notification worker started", channels=sorted(channels))
    try:
        while not stop.is_set():
            try:
                claimed = await deliver_once(resources, channels, options, renderer=renderer)
                claimed = max(claimed, await deliver_conversation_events(resources, options))
            except Exception as exc:
                failures += 1
                delay = min(
                    options.outage_backoff_cap, options.poll_interval * 2.0 ** (failures - 1)
                )
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
                await listener.wait(stop, options.poll_interval)
    finally:
        await listener.close()
        if owned:
            await close_channels(channels)
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
