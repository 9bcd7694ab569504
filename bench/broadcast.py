"""Benchmark: an admin's broadcast delivered by the notification worker as shipped, to N Telegram
chats against the Bot API stand-in enforcing Telegram's flood control, and to M push tokens
against the FCM stand-in, beside the bare firebase-admin batch call on the same stand-in in
the same run.

    .venv/bin/python bench/broadcast.py [--telegram 10000] [--rate 30] [--push 100000]
                                        [--devices 1] [--batch-size N] [--concurrency N]
                                        [--workers 1] [--phases] [--profile FILE]

Telegram (issue 12: 429s received 0, lost 0, duplicates 0; the achieved rate against the
limit): N customers, each with a Telegram identity (distinct chat ids), get one broadcast.
The Bot API stand-in (tests/support/telegram_standin.py, a process of its own on uvloop so
that the worker's CPU does not starve it) enforces --rate messages a second for the bot and
1 a second (burst 3) per chat, answering 429 past them as Telegram does; the worker runs with
TELEGRAM_GLOBAL_RATE=--rate. At Telegram's real 30/s, 10k take about 6 minutes; 100k need the
rate raised on both sides (`--telegram 100000 --rate 200`: about 9 minutes); a rate above the
worker's own ceiling (a few hundred a second on 2 cores) measures that ceiling instead.
Measured at the stand-in, from the first successful send to the last: the achieved rate, the
most sends in any one second (the pacer's burst allows 1.2x the rate within a second), 429s
sent, chats that got nothing (lost) and chats that got more than one message (duplicates);
and the outbox and delivery rows' final states.

Push (goal: >= 0.8 of the bare call's throughput): M device tokens (on M / --devices
customers) against the FCM stand-in (`python -m tests.support.fcm_standin --no-record`, a
process of its own). First the baseline: a process like the worker's (asyncio, one
firebase-admin App) sends the same M messages, built beforehand, with
`messaging.send_each_async` in batches of 500, as many batches at once as the worker has in
flight (one per claimed batch of up to 500 rows). Then the product: a broadcast to the same
tokens, delivered by the worker through FcmChannel. Both are timed at the stand-in (its
`/_standin/stats` polled every 20 ms): from the first message counted to the last. With
--batch-size / --concurrency / --workers the product runs once with WorkerOptions' defaults
and once tuned: --workers processes of the worker (a deployment may run several) with those
options (no setting exposes them: the worker is then started through this script, which sets
run_worker's default options and runs main.py as `python main.py worker` does).

How the product runs: the broadcast is created through backend.broadcasts.service (as the
admin API does: a scheduled row, audited) and fanned out with `backend.broadcasts.tasks.run_due`
before the worker starts (timed apart), so the figures are the delivery's alone. The worker is
`python main.py worker` as a subprocess, configured through its environment only (the
database, Redis, the channel's settings, NOTIFY_QUIET_HOURS="" so that a run at night is not
postponed, RUN_BILLING_SCHEDULER=false), stopped with SIGTERM once every row is processed.
--phases runs it through this script with timers on the worker's steps (claim, recipients,
send, record, mark) and the garbage collector's pauses, and prints where the time went;
--profile FILE runs it under cProfile as well (slower: figures not comparable). Peak RSS is
the worker's VmHWM.

Everything runs on this machine's cores (2 here) with PostgreSQL and Redis: the CPU share of
the worker, the stand-in, the databases and everything else on the machine is printed (other
work on the cores slows both sides, not always equally). The database is a scratch one
(BENCH_DATABASE_URL, dropped and created, dropped at the end), Redis db 14 (BENCH_REDIS_URL,
flushed)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/provider_desk_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

SECRET_KEY = "bench-broadcast-secret-key-0123456789abcdefghij"
TELEGRAM_AREA = "bench-telegram"
PUSH_AREA = "bench-push"
FIRST_CHAT = 700_000_001  # chat ids FIRST_CHAT .. FIRST_CHAT + N - 1, by customer id
TEXTS = {
    "ru": "Уважаемые абоненты! В ночь на 12 декабря с 02:00 до 05:00 проводим плановые работы "
    "на сети: возможны кратковременные перерывы связи. Приносим извинения за неудобства.",
    "en": "Dear subscribers, planned network maintenance on 12 December from 02:00 to 05:00 "
    "may briefly interrupt your connection. We apologise for the inconvenience.",
}
FCM_BATCH = 500  # send_each_async's most messages per call
POLL_S = 0.02  # the FCM stand-in's counter is read this often
GOAL_PUSH_RATIO = 0.8


# --- the scratch database -------------------------------------------------------------------


async def _connect() -> Any:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(DB_URL)
    return await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username or "postgres",
        password=url.password, database=url.database,
    )  # fmt: skip


def _settings() -> Any:
    from backend.config import Settings

    return Settings(database_url=DB_URL, redis_url=REDIS_URL, secret_key=SECRET_KEY,
                    seed_demo=False, run_worker=False, notify_quiet_hours="",
                    _env_file=None)  # fmt: skip


async def prepare(telegram: int, push: int, devices: int) -> None:
    """A fresh database: `telegram` customers in TELEGRAM_AREA with one chat each, and
    `push` tokens on push/devices customers in PUSH_AREA; every tenth customer speaks
    English. Bulk INSERT ... SELECT: 100k customers take seconds."""
    from backend.migrate import upgrade
    from backend.state import Resources
    from bench.scratch import recreate_database

    await recreate_database(DB_URL)
    res = Resources.create(_settings())
    try:
        await upgrade(res.engine)
        await res.redis.flushdb()
    finally:
        await res.close()
    conn = await _connect()
    try:
        customers = """
            INSERT INTO customers (contract_number, full_name, address, locale, network_area,
                                   notification_preferences, created_at)
            SELECT $3::text || g, 'Абонент ' || g, '{}'::jsonb,
                   CASE WHEN g % 10 = 0 THEN 'en' ELSE 'ru' END, $2,
                   '{"billing": true, "outages": true, "tickets": true, "marketing": false}',
                   now()
            FROM generate_series(1, $1::int) g
        """
        if telegram:
            await conn.execute(customers, telegram, TELEGRAM_AREA, "TG-")
            await conn.execute(
                """
                INSERT INTO channel_identities (customer_id, channel, external_id, is_reachable,
                                                details, last_seen_at, created_at)
                SELECT id, 'telegram', ($1::bigint - 1 + row_number() OVER (ORDER BY id))::text,
                       true, '{}'::jsonb, now(), now()
                FROM customers WHERE network_area = $2
                """,
                FIRST_CHAT,
                TELEGRAM_AREA,
            )
        if push:
            await conn.execute(customers, math.ceil(push / devices), PUSH_AREA, "PU-")
            # registration tokens shaped like FCM's: "<installation id>:APA91b<134 chars>"
            await conn.execute(
                """
                INSERT INTO channel_identities (customer_id, channel, external_id, is_reachable,
                                                details, last_seen_at, created_at)
                SELECT c.id, 'fcm',
                       'e' || lpad(to_hex(c.id * $2 + d), 21, '0') || ':APA91b'
                           || md5(c.id || ':' || d) || md5(d || ':' || c.id)
                           || md5(c.id || '/' || d) || md5(d || '/' || c.id) || 'bench',
                       true, '{"platform": "android"}'::jsonb, now() - d * interval '1 minute',
                       now()
                FROM customers c CROSS JOIN generate_series(1, $2::int) d
                WHERE c.network_area = $1
                ORDER BY c.id, d
                LIMIT $3
                """,
                PUSH_AREA,
                devices,
                push,
            )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def push_tokens(count: int) -> list[str]:
    conn = await _connect()
    try:
        rows = await conn.fetch(
            "SELECT external_id FROM channel_identities WHERE channel = 'fcm' ORDER BY id LIMIT $1",
            count,
        )
        return [r["external_id"] for r in rows]
    finally:
        await conn.close()


@dataclass
class Fanned:
    broadcast_id: int
    first: int  # the broadcast's outbox ids
    last: int
    queued: int
    seconds: float


async def create_and_fan_out(area: str, title: str) -> Fanned:
    """The admin's broadcast to an area, sent now (a service announcement: nobody opts out),
    created through the service as POST /api/v1/admin/broadcasts does, then fanned out into
    the outbox by the task the worker's process runs every 10 s."""
    from backend.audit.service import SYSTEM
    from backend.broadcasts import service
    from backend.broadcasts.schemas import BroadcastIn
    from backend.broadcasts.tasks import run_due
    from backend.clock import utcnow
    from backend.db import unit_of_work
    from backend.models import Broadcast
    from backend.state import Resources

    res = Resources.create(_settings())
    try:
        data = BroadcastIn.model_validate(
            {"title": title, "texts": TEXTS, "segment": {"type": "area", "area": area}}
        )
        async with unit_of_work(res.sessionmaker) as session:
            created = await service.create(
                session, data, default_locale=res.settings.default_locale, actor=SYSTEM,
                now=utcnow(),
            )  # fmt: skip
            broadcast_id = created.id
        start = time.perf_counter()
        report = await run_due(res)
        seconds = time.perf_counter() - start
        async with res.sessionmaker() as session:
            broadcast = await session.get(Broadcast, broadcast_id)
            assert broadcast is not None
            first, last = broadcast.first_outbox_id or 0, broadcast.last_outbox_id or 0
        return Fanned(broadcast_id, first, last, report.queued, seconds)
    finally:
        await res.close()


async def waiting_rows(fanned: Fanned) -> int:
    """The broadcast's rows not yet processed (pending, postponed or held by the worker)."""
    conn = await _connect()
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM outbox WHERE id BETWEEN $1 AND $2 "
                "AND status IN ('pending', 'processing')",
                fanned.first,
                fanned.last,
            )
        )
    finally:
        await conn.close()


@dataclass
class FinalStates:
    outbox: dict[str, int]  # status -> rows
    retried: int  # rows claimed more than once
    errors: dict[str, int]  # last_error -> rows (of those that have one)
    deliveries: dict[str, int]  # status -> delivery rows
    delivery_attempts: int  # sends tried (a delivery row's attempts, summed)
    broadcast_status: str
    progress: dict[str, int]  # what the admin's progress shows


async def final_states(fanned: Fanned) -> FinalStates:
    from backend.broadcasts import service
    from backend.broadcasts.tasks import run_due
    from backend.models import Broadcast
    from backend.state import Resources

    conn = await _connect()
    try:
        span = (fanned.first, fanned.last)
        outbox = {
            r["status"]: r["n"]
            for r in await conn.fetch(
                "SELECT status::text, count(*) AS n FROM outbox WHERE id BETWEEN $1 AND $2 "
                "GROUP BY 1",
                *span,
            )
        }
        retried = await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE id BETWEEN $1 AND $2 AND attempts > 1", *span
        )
        errors = {
            r["e"]: r["n"]
            for r in await conn.fetch(
                "SELECT left(last_error, 100) AS e, count(*) AS n FROM outbox "
                "WHERE id BETWEEN $1 AND $2 AND last_error IS NOT NULL GROUP BY 1 "
                "ORDER BY 2 DESC LIMIT 5",
                *span,
            )
        }
        deliveries = {
            r["status"]: r["n"]
            for r in await conn.fetch(
                "SELECT status, count(*) AS n FROM notification_deliveries "
                "WHERE outbox_id BETWEEN $1 AND $2 GROUP BY 1",
                *span,
            )
        }
        attempts = await conn.fetchval(
            "SELECT coalesce(sum(attempts), 0) FROM notification_deliveries "
            "WHERE outbox_id BETWEEN $1 AND $2",
            *span,
        )
    finally:
        await conn.close()
    res = Resources.create(_settings())
    try:
        await run_due(res)  # marks the broadcast sent once every row is processed
        async with res.sessionmaker() as session:
            broadcast = await session.get(Broadcast, fanned.broadcast_id)
            assert broadcast is not None
            progress = (await service.progress(session, broadcast)).model_dump()
            status = broadcast.status.value
    finally:
        await res.close()
    return FinalStates(outbox, int(retried), errors, deliveries, int(attempts), status, progress)


# --- processes --------------------------------------------------------------------------------


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of every core since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


def _database_cpu_s() -> float:
    """CPU seconds so far of the PostgreSQL backends of the bench's database and of Redis."""
    from sqlalchemy.engine import make_url

    database = make_url(DB_URL).database or ""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if (command.startswith("postgres: ") and f" {database} " in command) or (
                command.startswith("redis-server")
            ):
                total += _proc_cpu_s(int(entry.name))
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


@dataclass
class CpuWatch:
    """CPU shares (of one core) over a run: the worker, a stand-in, the databases, the
    machine. The databases' backends that ended during the run are not counted."""

    pids: dict[str, int]
    start: float = 0.0
    cpu0: dict[str, float] = field(default_factory=dict)
    db0: float = 0.0
    busy0: tuple[int, int] = (0, 0)
    shares: dict[str, float] = field(default_factory=dict)

    def begin(self) -> None:
        self.start = time.monotonic()
        self.cpu0 = {name: _proc_cpu_s(pid) for name, pid in self.pids.items()}
        self.db0, self.busy0 = _database_cpu_s(), _machine_busy()

    def end(self) -> None:
        wall = max(1e-9, time.monotonic() - self.start)
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError):
                self.shares[name] = (_proc_cpu_s(pid) - self.cpu0[name]) / wall
        self.shares["PostgreSQL + Redis"] = max(0.0, _database_cpu_s() - self.db0) / wall
        busy = _machine_busy()
        self.shares["machine"] = (busy[0] - self.busy0[0]) / max(1, busy[1] - self.busy0[1])

    def line(self) -> str:
        ours = {k: v for k, v in self.shares.items() if k != "machine"}
        machine = self.shares.get("machine", float("nan"))
        others = max(0.0, machine * (os.cpu_count() or 1) - sum(ours.values()))
        parts = ", ".join(f"{k} {v:.0%}" for k, v in ours.items())
        return (f"CPU (share of one core): {parts}, everything else on the machine {others:.0%}; "
                f"the machine {machine:.0%} busy of {os.cpu_count()} cores")  # fmt: skip


def _environment(data_dir: str, extra: dict[str, str]) -> dict[str, str]:
    """The worker's environment: nothing of this shell's settings leaks in."""
    from backend.config import Settings

    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        APP_ENV="development",
        DATA_DIR=data_dir,
        DATABASE_URL=DB_URL,
        REDIS_URL=REDIS_URL,
        SECRET_KEY=SECRET_KEY,
        SEED_DEMO="false",
        RUN_BILLING_SCHEDULER="false",
        NOTIFY_QUIET_HOURS="",  # a run at night would postpone the whole broadcast
        LOG_LEVEL="WARNING",
        LOG_JSON="true",
        **extra,
    )
    return env


def _stop(proc: subprocess.Popen[Any], timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@dataclass
class WorkerRun:
    label: str
    options: str  # the WorkerOptions it ran with
    peak_rss_mib: float = 0.0
    exit_code: int | None = None
    cpu: CpuWatch | None = None
    problems: Counter[str] = field(default_factory=Counter)  # logged warnings and errors
    phases: dict[str, Any] = field(default_factory=dict)
    timed_out: bool = False


def _worker_command(args: argparse.Namespace, tuned: bool, phases_file: Path | None) -> list[str]:
    if not tuned and phases_file is None and not args.profile:
        return [sys.executable, str(ROOT / "main.py"), "worker"]  # as shipped
    command = [sys.executable, str(SCRIPT), "--serve-worker"]
    if tuned and args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if tuned and args.concurrency:
        command += ["--concurrency", str(args.concurrency)]
    if phases_file is not None:
        command += ["--phases-file", str(phases_file)]
    if args.profile:
        command += ["--profile", str(Path(args.profile).resolve())]
    return command


def _options_text(args: argparse.Namespace, tuned: bool) -> str:
    from notifications.worker import DEFAULT_OPTIONS

    batch = args.batch_size if tuned and args.batch_size else DEFAULT_OPTIONS.batch_size
    concurrency = args.concurrency if tuned and args.concurrency else DEFAULT_OPTIONS.concurrency
    processes = args.workers if tuned else 1
    return f"{processes} process(es), batch_size {batch}, concurrency {concurrency}"


def _merge_phases(found: list[dict[str, Any]]) -> dict[str, Any]:
    """The worker processes' step timings added up (wall: the longest)."""
    if len(found) < 2:
        return found[0] if found else {}
    merged: dict[str, Any] = {"seconds": {}, "calls": {}}
    merged["wall"] = max(f["wall"] for f in found)
    merged["cpu"] = sum(f["cpu"] for f in found)
    for f in found:
        for name, seconds in f["seconds"].items():
            merged["seconds"][name] = merged["seconds"].get(name, 0.0) + seconds
            merged["calls"][name] = merged["calls"].get(name, 0) + f["calls"][name]
    return merged


async def run_worker_until_done(
    label: str,
    args: argparse.Namespace,
    tuned: bool,
    env_extra: dict[str, str],
    fanned: Fanned,
    limit_s: float,
    other_pids: dict[str, int],
    done_hint: Any = None,
) -> WorkerRun:
    """Start the worker (--workers processes when tuned), wait until the broadcast's every row
    is processed (or `limit_s`), read the peak RSS, stop it with SIGTERM as a supervisor
    would."""
    run = WorkerRun(label, _options_text(args, tuned))
    processes = args.workers if tuned else 1
    with tempfile.TemporaryDirectory() as scratch:
        env = _environment(scratch, env_extra)
        phases_files = [Path(scratch) / f"phases-{i}.json" for i in range(processes)]
        logs = [Path(scratch) / f"worker-{i}.log" for i in range(processes)]
        workers = [
            _spawn(_worker_command(args, tuned, phases if args.phases else None), env=env, log=log)
            for phases, log in zip(phases_files, logs, strict=True)
        ]
        try:
            run.cpu = CpuWatch({
                **{f"worker {i + 1}" if processes > 1 else "worker": w.pid
                   for i, w in enumerate(workers)},
                **other_pids,
            })  # fmt: skip
            run.cpu.begin()
            deadline = time.monotonic() + limit_s
            checked = 0.0
            while True:
                await asyncio.sleep(0.2)
                for worker, log in zip(workers, logs, strict=True):
                    if worker.poll() is not None:
                        tail = log.read_text(errors="replace").splitlines()[-40:]
                        print("the worker's log, last lines:", *tail, sep="\n", file=sys.stderr)
                        raise SystemExit(f"{label}: a worker exited with {worker.returncode}")
                # with a hint the database is asked once the stand-in has counted everything,
                # else every few seconds (rows may end unsent); without one every second
                hinted = done_hint is not None and done_hint()
                if hinted or time.monotonic() - checked > (1 if done_hint is None else 5):
                    checked = time.monotonic()
                    if await waiting_rows(fanned) == 0:
                        break
                if time.monotonic() > deadline:
                    run.timed_out = True
                    break
            run.cpu.end()
            run.peak_rss_mib = max(_peak_rss_mib(w.pid) for w in workers)
        finally:
            run.exit_code = max(_stop(w) for w in workers)
        for log in logs:
            run.problems.update(_problems(log.read_text(errors="replace")))
        run.phases = _merge_phases([json.loads(f.read_text()) for f in phases_files if f.exists()])
    return run


def _problems(log: str) -> Counter[str]:
    """The worker's logged warnings and errors (LOG_JSON lines) by event, and tracebacks."""
    found: Counter[str] = Counter()
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if line.startswith("Traceback"):
                found["Traceback"] += 1
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
            found[f"{entry.get('event')} {entry.get('error') or ''}".strip()[:120]] += 1
    return found


# --- the worker, timed by phase (--phases; a child process) -------------------------------------


class Phases:
    """Wall time and calls of the worker's steps, by wrapping the functions it looks up at
    call time. Nested and concurrent steps overlap: each is its own total."""

    GC = "garbage collector (its pauses, any step)"

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.started = time.perf_counter()
        self.cpu0 = time.process_time()
        self._gc_start = 0.0

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        seconds, calls = self.seconds, self.calls
        seconds[label], calls[label] = 0.0, 0  # the order of the report

        async def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - start
                calls[label] += 1

        setattr(owner, name, timed)

    def _gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.seconds[self.GC] += time.perf_counter() - self._gc_start
            self.calls[self.GC] += 1

    def install(self) -> None:
        from firebase_admin import messaging

        from bot.pacing import Pacer
        from notifications import repository, worker
        from notifications.push import FcmChannel
        from notifications.telegram import TelegramChannel
        from notifications.wakeup import OutboxListener

        self.wrap(worker, "deliver_once", "deliver_once (one claimed batch, all of it)")
        self.wrap(repository, "claim_batch", "  claim_batch (both consumers)")
        self.wrap(worker, "_prepare_batch", "  _prepare_batch (recipients, texts, render)")
        self.wrap(worker, "_send_round", "  _send_round (all of the sending)")
        self.wrap(repository, "begin_deliveries", "    begin_deliveries (statements)")
        self.wrap(FcmChannel, "send_many", "    FcmChannel.send_many")
        self.wrap(messaging, "send_each_async", "      messaging.send_each_async")
        self.wrap(TelegramChannel, "send", "    TelegramChannel.send (concurrent)")
        self.wrap(Pacer, "acquire", "      Pacer.acquire (concurrent)")
        self.wrap(repository, "finish_deliveries", "    finish_deliveries (statements)")
        self.wrap(worker, "_finish", "  _finish (marking the rows)")
        self.wrap(worker, "deliver_conversation_events", "deliver_conversation_events")
        self.wrap(OutboxListener, "wait", "idle (waiting for NOTIFY or the poll)")
        self.seconds[self.GC], self.calls[self.GC] = 0.0, 0
        gc.callbacks.append(self._gc)

    def dump(self, path: str) -> None:
        used = [k for k, n in self.calls.items() if n]
        Path(path).write_text(json.dumps({
            "wall": time.perf_counter() - self.started, "cpu": time.process_time() - self.cpu0,
            "seconds": {k: self.seconds[k] for k in used},
            "calls": {k: self.calls[k] for k in used},
        }))  # fmt: skip


def serve_worker(args: argparse.Namespace) -> None:
    """`python main.py worker`, with run_worker's options set (--batch-size, --concurrency),
    and with --phases-file / --profile its steps timed or profiled."""
    import cProfile
    import dataclasses
    import runpy

    from notifications import worker

    defaults = worker.run_worker.__kwdefaults__
    assert defaults is not None
    assert "options" in defaults, "run_worker's options moved"
    changes = {}
    if args.batch_size:
        changes["batch_size"] = args.batch_size
    if args.concurrency:
        changes["concurrency"] = args.concurrency
    defaults["options"] = dataclasses.replace(defaults["options"], **changes)
    phases = Phases() if args.phases_file else None
    if phases is not None:
        phases.install()
    profile = cProfile.Profile() if args.profile else None
    sys.argv = ["main.py", "worker"]
    if profile is not None:
        profile.enable()
    try:
        runpy.run_path(str(ROOT / "main.py"), run_name="__main__")
    finally:
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
        if phases is not None:
            phases.dump(args.phases_file)


# --- the Telegram stand-in (a child process) ---------------------------------------------------


def serve_telegram(rate: float) -> None:
    """The Bot API stand-in enforcing `rate` a second for the bot and 1 a second (burst 3) per
    chat; prints its base URL. GET /_bench/stats?first=F&n=N: 429s sent, the time of every
    successful send, and of the chats F .. F+N-1 those that got one message or more, and those
    that got more than one."""
    from aiohttp import web

    from tests.support.telegram_standin import TelegramStandIn

    async def main() -> None:
        standin = TelegramStandIn(keep_history=False)
        standin.enforce_limits(global_per_second=rate, per_chat_per_second=1, per_chat_burst=3)
        sent_at: list[float] = []

        @web.middleware
        async def clock(request: web.Request, handler: Any) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request)
            if response.status == 200 and request.path.lower().endswith("/sendmessage"):
                sent_at.append(time.time())
            return response

        async def stats(request: web.Request) -> web.Response:
            first, n = int(request.query["first"]), int(request.query["n"])
            counts = standin.sent_per_chat
            reached = sum(1 for chat in range(first, first + n) if counts.get(chat, 0) > 0)
            repeated = {str(c): k for c, k in counts.items() if k > 1}
            outside = sum(1 for c in counts if not (isinstance(c, int) and first <= c < first + n))
            return web.json_response({
                "too_many": standin.too_many, "sent_at": sent_at, "reached": reached,
                "repeated": repeated, "outside": outside,
            })  # fmt: skip

        app = standin.build_app()
        app.middlewares.append(clock)
        app.router.add_get("/_bench/stats", stats)
        runner = web.AppRunner(app, shutdown_timeout=1, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        print(f"http://{host}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    _run_fast(main())


def _run_fast(coro: Any) -> Any:
    """The stand-ins on uvloop when it is installed: they must keep up with the worker."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def _spawn(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    talk: bool = False,
) -> subprocess.Popen[Any]:
    """A child of ours: its output to `log`, or with `talk` lines on its stdin and stdout."""
    if talk:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    if log is None:
        return subprocess.Popen(command, cwd=ROOT, env=env)
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


def _start_server(command: list[str]) -> tuple[subprocess.Popen[str], str]:
    """A stand-in child that prints its base URL as its first line."""
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        _stop(proc)
        raise SystemExit(f"the stand-in {command[-1]} did not start")
    return proc, url


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - our stand-in
        return json.loads(response.read())


# --- Telegram ---------------------------------------------------------------------------------


@dataclass
class TelegramResult:
    recipients: int
    rate_limit: float
    fanned: Fanned
    run: WorkerRun
    sent: int
    too_many: int
    lost: int
    duplicates: int  # chats that got more than one message
    extra_messages: int  # messages beyond one per chat
    outside: int  # chats not among the recipients (must be 0)
    seconds: float  # the first successful send to the last
    busiest_second: int  # the most successful sends within any one second
    windows: list[float]  # the achieved rate by 10 s of the run
    states: FinalStates

    @property
    def rate(self) -> float:
        return (self.sent - 1) / self.seconds if self.seconds > 0 else float("nan")


def _busiest(times: list[float], width: float = 1.0) -> int:
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - width:
            j += 1
        best = max(best, i - j + 1)
    return best


async def run_telegram(args: argparse.Namespace) -> TelegramResult:
    from tests.support.telegram_standin import TEST_TOKEN

    n, rate = args.telegram, args.rate
    standin, url = _start_server([sys.executable, str(SCRIPT), "--serve-telegram", str(rate)])
    try:
        fanned = await create_and_fan_out(TELEGRAM_AREA, f"bench telegram {n}")
        print(f"telegram: {fanned.queued} rows fanned out in {fanned.seconds:.1f} s; "
              f"sending at {rate:g}/s ...", file=sys.stderr, flush=True)  # fmt: skip
        env = {
            "TELEGRAM_BOT_TOKEN": TEST_TOKEN,
            "TELEGRAM_API_BASE": url,
            "TELEGRAM_GLOBAL_RATE": str(rate),
        }
        limit_s = n / rate * 3 + 120
        run = await run_worker_until_done(
            "telegram", args, False, env, fanned, limit_s,
            {"Bot API stand-in": standin.pid},
        )  # fmt: skip
        stats = _get_json(f"{url}/_bench/stats?first={FIRST_CHAT}&n={n}")
    finally:
        _stop(standin)
    times = sorted(stats["sent_at"])
    seconds = times[-1] - times[0] if len(times) > 1 else 0.0
    windows = []
    if times:
        buckets = Counter(int((t - times[0]) // 10) for t in times)
        windows = [buckets.get(i, 0) / 10 for i in range(max(buckets) + 1)]
    repeated = stats["repeated"]
    return TelegramResult(
        recipients=n,
        rate_limit=rate,
        fanned=fanned,
        run=run,
        sent=len(times),
        too_many=stats["too_many"],
        lost=n - stats["reached"],
        duplicates=len(repeated),
        extra_messages=sum(k - 1 for k in repeated.values()),
        outside=stats["outside"],
        seconds=seconds,
        busiest_second=_busiest(times),
        windows=windows,
        states=await final_states(fanned),
    )


# --- push -------------------------------------------------------------------------------------


class Counted:
    """The FCM stand-in's count of accepted messages, read every POLL_S on a thread:
    `(time, count)` samples, from which a span's first and last message are found."""

    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/_standin/stats"
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="fcm-count", daemon=True)

    def now(self) -> int:
        return int(_get_json(self.url)["sent"])

    def _poll(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                self.samples.append((time.perf_counter(), self.now()))
            self._stop.wait(POLL_S)

    def __enter__(self) -> Counted:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def reached(self, count: int) -> bool:
        return bool(self.samples) and self.samples[-1][1] >= count

    def span(self, base: int, count: int) -> tuple[float, int]:
        """Seconds from the first sample past `base` to the first at `base + count` (or the
        last sample), and how many were counted in between."""
        started = next((t for t, c in self.samples if c > base), None)
        if started is None:
            return float("nan"), 0
        end, got = next(((t, c) for t, c in self.samples if c >= base + count), self.samples[-1])
        return end - started, got - base


def push_baseline(key_file: str, base_url: str, count: int, concurrency: int) -> None:
    """The bare call (a child process, as the worker is one): the same messages the worker
    sends (title, body, data, Android priority), built beforehand, sent with
    messaging.send_each_async in batches of 500, `concurrency` batches at once. One warm-up
    message first (the OAuth token, the connection); then "ready" on stdout, "go" on stdin,
    the result as JSON."""
    import resource
    import warnings

    import firebase_admin
    from firebase_admin import credentials, messaging

    from backend.i18n import catalog
    from notifications.push import DEFAULT_TITLE

    tokens = asyncio.run(push_tokens(count))
    key = json.loads(Path(key_file).read_text())
    # the bare library has no setting for the server either: its URL, before the service exists
    messaging._MessagingService.FCM_URL = base_url.rstrip("/") + "/v1/projects/{0}/messages:send"
    app = firebase_admin.initialize_app(
        credentials.Certificate(key), {"projectId": key["project_id"]}, name="bench-baseline"
    )
    title = catalog().text(DEFAULT_TITLE, "ru")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        messages = [
            messaging.Message(
                notification=messaging.Notification(title=title, body=TEXTS["ru"]),
                data={
                    "kind": "broadcast.message",
                    "outbox_id": str(1_000_000 + i),
                    "link": "http://127.0.0.1:8000/app/home",
                },
                android=messaging.AndroidConfig(priority="normal"),
                token=token,
            )
            for i, token in enumerate(tokens)
        ]

    async def main() -> dict[str, Any]:
        warm = await messaging.send_each_async(messages[:1], app=app)
        if warm.failure_count:
            raise SystemExit(f"baseline warm-up failed: {warm.responses[0].exception!r}")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        gate = asyncio.Semaphore(concurrency)
        failures: Counter[str] = Counter()

        async def batch(chunk: list[Any]) -> None:
            async with gate:
                response = await messaging.send_each_async(chunk, app=app)
            for r in response.responses:
                if not r.success:
                    failures[type(r.exception).__name__] += 1

        cpu0, start = time.process_time(), time.perf_counter()
        await asyncio.gather(
            *(batch(messages[i : i + FCM_BATCH]) for i in range(0, len(messages), FCM_BATCH))
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"seconds": seconds, "cpu": cpu, "failures": dict(failures), "peak_rss_mib": peak}

    print(json.dumps(asyncio.run(main())), flush=True)


@dataclass
class PushRun:
    label: str
    messages: int
    seconds: float  # at the stand-in: the first message counted to the last
    counted: int
    run: WorkerRun | None = None  # the product's
    fanned: Fanned | None = None
    states: FinalStates | None = None
    own: dict[str, Any] = field(default_factory=dict)  # the baseline's own figures

    @property
    def rate(self) -> float:
        return self.counted / self.seconds if self.seconds > 0 else float("nan")


async def run_push(args: argparse.Namespace) -> list[PushRun]:
    from notifications.worker import DEFAULT_OPTIONS

    m = args.push
    runs: list[PushRun] = []
    with tempfile.TemporaryDirectory() as scratch:
        key_file = Path(scratch) / "fcm-key.json"
        standin, url = _start_server([sys.executable, "-m", "tests.support.fcm_standin",
                                      str(key_file), "--no-record"])  # fmt: skip
        try:
            with Counted(url) as counted:
                # the baseline: as many batches at once as the worker sends (one per claimed batch
                # of up to 500 rows), for the configuration it is compared with
                batch = args.batch_size or DEFAULT_OPTIONS.batch_size
                concurrency = max(1, math.ceil(min(batch, m) / FCM_BATCH))
                runs.append(await _push_baseline(key_file, url, m, concurrency, counted, standin))
                variants = [("product, WorkerOptions defaults", False)]
                if args.batch_size or args.concurrency or args.workers > 1:
                    variants.append(("product, tuned", True))
                for label, tuned in variants:
                    runs.append(await _push_product(args, label, tuned, key_file, url, counted,
                                                    standin))  # fmt: skip
        finally:
            _stop(standin)
    return runs


async def _push_baseline(
    key_file: Path,
    url: str,
    m: int,
    concurrency: int,
    counted: Counted,
    standin: subprocess.Popen[str],
) -> PushRun:
    command = [sys.executable, str(SCRIPT), "--push-baseline", str(key_file), url, str(m),
               str(concurrency)]  # fmt: skip
    proc = _spawn(command, talk=True)
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the baseline did not start ({proc.wait()})")
        await asyncio.sleep(0.5)
        base = counted.now()
        cpu = CpuWatch({"baseline": proc.pid, "FCM stand-in": standin.pid})
        cpu.begin()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = await asyncio.get_running_loop().run_in_executor(None, proc.stdout.readline)
        cpu.end()
        own = json.loads(line)
    finally:
        _stop(proc)
    await asyncio.sleep(3 * POLL_S)
    seconds, got = counted.span(base, m)
    label = f"bare send_each_async, batches of {FCM_BATCH}, {concurrency} at once"
    result = PushRun(label, m, seconds, got, own=own)
    result.own["cpu_line"] = cpu.line()
    return result


async def _push_product(
    args: argparse.Namespace,
    label: str,
    tuned: bool,
    key_file: Path,
    url: str,
    counted: Counted,
    standin: subprocess.Popen[str],
) -> PushRun:
    m = args.push
    fanned = await create_and_fan_out(PUSH_AREA, f"bench push {label}")
    expected = m  # one message per device
    print(f"push ({label}): {fanned.queued} rows ({m} devices) fanned out in "
          f"{fanned.seconds:.1f} s; sending ...", file=sys.stderr, flush=True)  # fmt: skip
    base = counted.now()
    env = {"FCM_CREDENTIALS": str(key_file), "FCM_API_BASE": url}
    run = await run_worker_until_done(
        label, args, tuned, env, fanned, limit_s=m / 20 + 300,
        other_pids={"FCM stand-in": standin.pid},
        done_hint=lambda: counted.reached(base + expected),
    )  # fmt: skip
    await asyncio.sleep(3 * POLL_S)
    seconds, got = counted.span(base, expected)
    result = PushRun(label, expected, seconds, got, run=run, fanned=fanned)
    result.own["counted_total"] = counted.now() - base
    result.states = await final_states(fanned)
    return result


# --- the report -------------------------------------------------------------------------------


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                     for i, (c, w) in enumerate(zip(cells, widths, strict=True)))  # fmt: skip


def _table(rows: list[list[str]]) -> Iterator[str]:
    head = ["figure", "product", "baseline", "ratio", "goal", "result"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    yield "  " + _row(head, widths)
    for r in rows:
        yield "  " + _row(r, widths)


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("pass" if ok else "FAIL")


def _states_line(states: FinalStates) -> str:
    text = (f"outbox rows {dict(sorted(states.outbox.items()))}, claimed more than once "
            f"{states.retried}; delivery rows {dict(sorted(states.deliveries.items()))} "
            f"({states.delivery_attempts} send attempts); broadcast {states.broadcast_status}, "
            f"progress {states.progress}")  # fmt: skip
    if states.errors:
        text += f"; last errors {states.errors}"
    return text


def _phases_lines(phases: dict[str, Any]) -> Iterator[str]:
    if not phases:
        return
    wall, cpu = phases["wall"], phases["cpu"]
    yield (f"    the worker's steps over its {wall:.1f} s (CPU {cpu:.1f} s = {cpu / wall:.0%} of "
           "a core); nested steps are inside their parent, concurrent ones add up:")  # fmt: skip
    for name, seconds in phases["seconds"].items():
        calls = phases["calls"][name]
        yield (f"      {name:<50} {seconds:8.2f} s  {calls:7d} calls  "
               f"{seconds / calls * 1e3:8.2f} ms each")  # fmt: skip


def report(telegram: TelegramResult | None, push: list[PushRun]) -> tuple[dict[str, Any], bool]:
    """Print the table and the details; the figures as a dict, and whether what was
    measured is sound (nothing lost, nothing twice, the runs ended)."""
    rows: list[list[str]] = []
    figures: dict[str, Any] = {}
    sound = True
    if telegram is not None:
        t = telegram
        ratio = t.rate / t.rate_limit
        rows += [
            [f"telegram: achieved rate (msg/s), {t.recipients} chats", f"{t.rate:.1f}",
             f"{t.rate_limit:g} (limit)", f"{ratio:.2f}", "-", _verdict(None)],
            ["telegram: 429s received", str(t.too_many), "", "", "0",
             _verdict(t.too_many == 0)],
            ["telegram: lost (chats with no message)", str(t.lost), "", "", "0",
             _verdict(t.lost == 0)],
            ["telegram: duplicates (chats with > 1)", str(t.duplicates), "", "", "0",
             _verdict(t.duplicates == 0)],
            ["telegram: worker peak RSS (MiB)", f"{t.run.peak_rss_mib:.0f}", "", "", "-", "-"],
        ]  # fmt: skip
        figures["telegram"] = {
            "recipients": t.recipients, "limit": t.rate_limit, "rate": t.rate, "ratio": ratio,
            "too_many": t.too_many, "lost": t.lost, "duplicates": t.duplicates,
            "busiest_second": t.busiest_second, "seconds": t.seconds,
            "peak_rss_mib": t.run.peak_rss_mib, "outbox": t.states.outbox,
            "deliveries": t.states.deliveries,
        }  # fmt: skip
        sound &= t.lost == 0 and t.duplicates == 0 and t.outside == 0 and not t.run.timed_out
    baseline = next((p for p in push if p.run is None), None)
    for p in push:
        if p.run is None or baseline is None:
            continue
        ratio = p.rate / baseline.rate
        rows += [
            [f"push: throughput (msg/s), {p.label}", f"{p.rate:.0f}", f"{baseline.rate:.0f}",
             f"{ratio:.2f}", f">= {GOAL_PUSH_RATIO:g}", _verdict(ratio >= GOAL_PUSH_RATIO)],
            [f"push: worker peak RSS (MiB), {p.label}", f"{p.run.peak_rss_mib:.0f}",
             f"{baseline.own.get('peak_rss_mib', float('nan')):.0f}", "", "-", "-"],
        ]  # fmt: skip
        extra = p.own["counted_total"] - p.messages
        figures.setdefault("push", []).append({
            "label": p.label, "options": p.run.options, "messages": p.messages,
            "rate": p.rate, "baseline_rate": baseline.rate, "ratio": ratio,
            "peak_rss_mib": p.run.peak_rss_mib, "extra_at_standin": extra,
            "outbox": p.states.outbox if p.states else {},
        })  # fmt: skip
        sent = p.states.deliveries.get("sent", 0) if p.states else 0
        sound &= extra == 0 and sent == p.messages and not p.run.timed_out

    print()
    print("broadcast benchmark: the notification worker as shipped (`python main.py worker`), "
          f"PostgreSQL + Redis, {os.cpu_count()} cores")  # fmt: skip
    for line in _table(rows):
        print(line)
    if telegram is not None:
        t = telegram
        print(f"  telegram: {t.recipients} chats, limit {t.rate_limit:g}/s for the bot and 1/s "
              f"per chat at the stand-in, TELEGRAM_GLOBAL_RATE={t.rate_limit:g}; worker "
              f"{t.run.options}")  # fmt: skip
        print(f"    fan-out {t.fanned.queued} rows in {t.fanned.seconds:.1f} s; {t.sent} "
              f"successful sends in {t.seconds:.1f} s (first to last); the busiest second "
              f"held {t.busiest_second}; {t.extra_messages} messages beyond one per chat, "
              f"{t.outside} to chats not among the recipients")  # fmt: skip
        if t.windows:
            print("    msg/s by 10 s: " + " ".join(f"{w:.0f}" for w in t.windows))
        print(f"    {_states_line(t.states)}")
        if t.run.cpu:
            print(f"    {t.run.cpu.line()}")
        if t.run.problems:
            print(f"    worker warnings/errors: {dict(t.run.problems.most_common(5))}")
        if t.run.timed_out:
            print("    TIMED OUT: rows were still waiting when the run was stopped")
        for line in _phases_lines(t.run.phases):
            print(line)
    for p in push:
        if p.run is None:
            print(f"  push baseline ({p.label}): {p.counted} messages in {p.seconds:.2f} s at "
                  f"the stand-in ({p.own['seconds']:.2f} s by its own clock, CPU "
                  f"{p.own['cpu']:.1f} s); failures {p.own['failures'] or 0}; "
                  f"{p.own['cpu_line']}")  # fmt: skip
            continue
        print(f"  push {p.label} (worker {p.run.options}): {p.counted} messages in "
              f"{p.seconds:.2f} s at the stand-in; {p.own['counted_total'] - p.messages} "
              "beyond one per device")  # fmt: skip
        if p.fanned:
            print(f"    fan-out {p.fanned.queued} rows in {p.fanned.seconds:.1f} s")
        if p.states:
            print(f"    {_states_line(p.states)}")
        if p.run.cpu:
            print(f"    {p.run.cpu.line()}")
        if p.run.problems:
            print(f"    worker warnings/errors: {dict(p.run.problems.most_common(5))}")
        if p.run.timed_out:
            print("    TIMED OUT: rows were still waiting when the run was stopped")
        for line in _phases_lines(p.run.phases):
            print(line)
    return figures, sound


async def orchestrate(args: argparse.Namespace) -> tuple[dict[str, Any], bool]:
    from bench.scratch import drop_database

    start = time.perf_counter()
    await prepare(args.telegram, args.push, args.devices)
    print(f"prepared {args.telegram} Telegram chats and {args.push} push tokens in "
          f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)  # fmt: skip
    try:
        telegram = await run_telegram(args) if args.telegram else None
        push = await run_push(args) if args.push else []
    finally:
        if not args.keep_database:
            await drop_database(DB_URL)
    figures, sound = report(telegram, push)
    return figures, sound


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--telegram", type=int, default=10_000, help="chats (0: none)")
    parser.add_argument(
        "--rate",
        type=float,
        default=30.0,
        help="messages/s: TELEGRAM_GLOBAL_RATE and the stand-in's limit",
    )
    parser.add_argument("--push", type=int, default=100_000, help="push tokens (0: none)")
    parser.add_argument("--devices", type=int, default=1, help="push devices per customer")
    parser.add_argument("--batch-size", type=int, help="a tuned run: WorkerOptions.batch_size")
    parser.add_argument("--concurrency", type=int, help="... and this WorkerOptions.concurrency")
    parser.add_argument("--workers", type=int, default=1, help="... and this many worker processes")
    parser.add_argument("--phases", action="store_true", help="time the worker's steps")
    parser.add_argument("--profile", metavar="FILE", help="run the worker under cProfile")
    parser.add_argument("--keep-database", action="store_true", help="do not drop it at the end")
    parser.add_argument("--serve-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--phases-file", help=argparse.SUPPRESS)
    parser.add_argument("--serve-telegram", type=float, metavar="RATE", help=argparse.SUPPRESS)
    parser.add_argument("--push-baseline", nargs=4, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    if args.serve_worker:
        serve_worker(args)
        return
    if args.serve_telegram:
        serve_telegram(args.serve_telegram)
        return
    if args.push_baseline:
        key_file, url, count, concurrency = args.push_baseline
        push_baseline(key_file, url, int(count), int(concurrency))
        return
    if args.telegram < 0 or args.push < 0 or args.devices < 1 or args.rate <= 0 or args.workers < 1:
        parser.error("--telegram, --push >= 0; --devices, --workers >= 1; --rate > 0")
    figures, sound = asyncio.run(orchestrate(args))
    print(json.dumps(figures))
    # Slow figures are figures; lost or repeated messages, or a run that did not end, mean
    # the benchmark did not measure what it says.
    if not sound:
        sys.exit(1)


if __name__ == "__main__":
    main()
