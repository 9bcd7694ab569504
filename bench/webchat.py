"""Benchmark: concurrent web chat widget sessions on one app process, beside a bare Starlette
WebSocket echo endpoint under the same load in the same run.

    .venv/bin/python bench/webchat.py [--sessions 1000] [--duration 60] [--interval 10]
                                      [--ping-interval 25] [--heartbeats-only] [--clients 2]
                                      [--no-deflate] [--profile FILE]

Each session does what the widget does (docs/webchat-protocol.md): `POST /api/v1/webchat/session`,
opens `/ws/chat` with an allowed `Origin`, sends `auth`, gives its consent when the `ready` frame
asks for it, sends `identify` with a customer's access token (one seeded customer per session,
balance 350.00), pings every --ping-interval seconds from then on, and during the run asks for
the balance ("какой у меня баланс?", the real NLU) every --interval seconds, the sessions' sends
spread evenly over the interval. Measured: the round trip from a `message` frame's send to the
bot's answer (the first `from: "bot"` frame after the message's `ack`; it must say 350),
p50/p99 overall and by 10 s of the run, and memory per connection: the server's RSS (/proc) with
every socket open and at the end of the run, minus its RSS once warm, divided by the sockets.
The baseline is a Starlette echo endpoint (each frame sent back as is) served with the same
`uvicorn.run` arguments as `python main.py api`, with the same sockets and cadence.

--heartbeats-only (the 5,000-session variant: `--sessions 5000 --heartbeats-only`): sessions
open and authenticate but send no messages, only pings; the figures are memory per connection
and the ping->pong round trip.

The product runs as shipped: `python main.py api` (uvicorn, one process, run through runpy by
this script so that gc.callbacks can time the garbage collector's pauses) on PostgreSQL and
Redis: its own scratch database (BENCH_DATABASE_URL, dropped and created) and Redis db 14
(BENCH_REDIS_URL, flushed). All sessions come from 127.0.0.1, so the per-address limits
(WEBCHAT_CONNECTIONS_PER_IP, WEBCHAT_SESSIONS_PER_IP_MINUTE, WEBCHAT_MESSAGES_PER_MINUTE) are
raised through the server's environment, and the file-descriptor limit to its hard limit.
Also shown: the server's CPU per turn and per opened session, PostgreSQL transactions per turn,
its Redis connections, the collector's pauses, and its logged warnings and errors.

Placement (2 cores): the server, PostgreSQL and Redis share the machine with the load, which
runs in --clients processes of this script (`websockets` asyncio client, uvloop when
installed). Each one's CPU share is printed: what the clients take is taken from the server
and the databases, and a busy client's event loop adds its own delay to the round trips it
measures. So is the time the server's event loop was ready to run but waited for a core: when
other work on the machine takes the cores, that, not the server, sets the tail.

Trials: --no-deflate has the clients decline permessage-deflate (browsers offer it);
--profile FILE runs the product under cProfile (slower: figures not comparable)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/provider_desk_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")

ORIGIN = "https://shop.bench.example"
SECRET_KEY = "bench-webchat-secret-key-0123456789abcdefghij"
QUESTION = "какой у меня баланс?"
BALANCE = 35000  # minor units: the answer must say 350
ANSWER_MARK = "350"
REPLY_TIMEOUT = 30.0
OPEN_TIMEOUT = 60.0
OPEN_CONCURRENCY = 64  # sockets being opened at once per client process
LIMIT = 1_000_000  # the per-address limits, raised: every session comes from 127.0.0.1
GOAL_P99_MS = 200.0
GOAL_MEMORY_RATIO = 2.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _run(coro: Any) -> Any:
    factory = _loop_factory()
    if factory is None:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def _raise_fd_limit() -> None:
    """Sockets are file descriptors: the soft limit up to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the baseline: a bare Starlette WebSocket echo (a child process) --------------------------


def echo_app() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    return Starlette(routes=[WebSocketRoute("/ws/chat", echo)])


class GcWatch:
    """The garbage collector's pauses in a server process (gc.callbacks), by generation;
    SIGUSR1 appends a snapshot to `path` (the longest pauses since the previous one).
    Observation only: aggregates, so that it adds nothing per connection to the memory."""

    def __init__(self, path: str) -> None:
        import gc

        self.path = path
        self.count = [0, 0, 0]
        self.total = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]
        self.started = 0.0
        gc.callbacks.append(self._callback)
        signal.signal(signal.SIGUSR1, self._snapshot)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        generation = info["generation"]
        pause = time.perf_counter() - self.started
        self.count[generation] += 1
        self.total[generation] += pause
        self.longest[generation] = max(self.longest[generation], pause)

    def _snapshot(self, *_: object) -> None:
        with open(self.path, "a") as out:
            out.write(json.dumps({"count": self.count, "total": self.total,
                                  "longest": self.longest}) + "\n")  # fmt: skip
        self.longest = [0.0, 0.0, 0.0]


def serve_product(gc_path: str, profile_path: str | None) -> None:
    """`python main.py api` as shipped, watched by GcWatch and, with --profile, cProfile."""
    import cProfile
    import runpy

    GcWatch(gc_path)
    # uvicorn raises the signal that stopped it again once it has shut down: taken here, so
    # that the process ends normally and the profile is written
    signal.signal(signal.SIGTERM, lambda *_: None)
    profile = cProfile.Profile() if profile_path else None
    sys.argv = ["main.py", "api"]
    if profile is not None:
        profile.enable()
    try:
        runpy.run_path(str(ROOT / "main.py"), run_name="__main__")
    finally:
        if profile is not None and profile_path:
            profile.disable()
            profile.dump_stats(profile_path)


def serve_echo(port: int, gc_path: str) -> None:
    import uvicorn

    GcWatch(gc_path)
    # the arguments of main.py's _serve, so both servers run the same uvicorn
    uvicorn.run(
        echo_app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )


# --- the load (client processes) --------------------------------------------------------------


@dataclass
class Plan:
    kind: str  # "product" or "echo"
    port: int
    first: int  # the index of this process's first session (spreads the schedule)
    total: int  # sessions over all client processes
    tokens: list[str | None]  # one per session of this process: its customer's access token
    duration: float
    interval: float
    ping_interval: float
    heartbeats_only: bool
    deflate: bool


@dataclass
class Turn:
    client_msg_id: str
    sent: float
    done: asyncio.Future[dict[str, Any]]
    seq: int | None = None


@dataclass
class Stats:
    round_trips: list[float] = field(default_factory=list)  # seconds
    sent_at: list[float] = field(default_factory=list)  # each round trip's send, from the start
    pings: list[float] = field(default_factory=list)
    problems: Counter[str] = field(default_factory=Counter)
    late: int = 0  # sends that left after their slot (the previous answer was still awaited)
    recording: bool = False  # pings are counted during the run only


class Session:
    """One widget: its socket, one frame reader, and what it is waiting for."""

    def __init__(self, plan: Plan, index: int, stats: Stats) -> None:
        self.plan = plan
        self.index = index
        self.stats = stats
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.heartbeat: asyncio.Task[None] | None = None
        self.waiting: tuple[frozenset[str], asyncio.Future[dict[str, Any]]] | None = None
        self.turn: Turn | None = None
        self.ping_sent: float | None = None
        self.count = 0
        self.started = 0.0

    async def open(self, http: Any) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Origin

        plan = self.plan
        session_token = "echo"
        if plan.kind == "product":
            response = await http.post("/api/v1/webchat/session", json={})
            if response.status_code != 200:
                raise RuntimeError(f"session: HTTP {response.status_code}")
            session_token = response.json()["session_token"]
        self.ws = await connect(
            f"ws://127.0.0.1:{plan.port}/ws/chat",
            origin=Origin(ORIGIN),
            ping_interval=None,  # the protocol's own pings, as the widget sends them
            compression="deflate" if plan.deflate else None,  # browsers offer permessage-deflate
            open_timeout=OPEN_TIMEOUT,
            close_timeout=5,
        )
        self.reader = asyncio.create_task(self._read())
        auth = {"type": "auth", "session_token": session_token, "locale": "ru"}
        ready = await self._ask(auth, {"ready", "auth"})  # the echo sends the frame back
        if plan.kind != "product":
            return
        if ready.get("consented") is False:
            await self._ask({"type": "consent"}, {"consented"})
        token = plan.tokens[self.index - plan.first]
        if token is not None and not plan.heartbeats_only:
            answer = await self._ask({"type": "identify", "access_token": token}, {"identified"})
            if answer["type"] != "identified":
                raise RuntimeError(f"identify: {answer.get('code')}")

    async def _ask(self, frame: dict[str, Any], types: set[str]) -> dict[str, Any]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting = (frozenset(types), future)
        await self.ws.send(json.dumps(frame, ensure_ascii=False))
        return await asyncio.wait_for(future, OPEN_TIMEOUT)

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                self._on_frame(json.loads(raw))

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if self.waiting is not None and (kind in self.waiting[0] or kind == "error"):
            _, future = self.waiting
            self.waiting = None
            if not future.done():
                future.set_result(frame)
            return
        if kind in ("pong", "ping") and self.ping_sent is not None:  # the echo returns the ping
            if self.stats.recording:
                self.stats.pings.append(time.perf_counter() - self.ping_sent)
            self.ping_sent = None
            return
        turn = self.turn
        if turn is None or turn.done.done():
            return
        if self.plan.kind == "echo":
            if kind == "message" and frame.get("client_msg_id") == turn.client_msg_id:
                turn.done.set_result(frame)
        elif kind == "ack" and frame.get("client_msg_id") == turn.client_msg_id:
            turn.seq = frame["seq"]
        elif kind == "error":
            if frame.get("client_msg_id") == turn.client_msg_id:
                turn.done.set_result(frame)
        elif self._answers(frame, turn):
            turn.done.set_result(frame)

    @staticmethod
    def _answers(frame: dict[str, Any], turn: Turn) -> bool:
        """The bot's first message after the question's ack answers it."""
        return (
            frame.get("type") == "message"
            and frame.get("from") == "bot"
            and turn.seq is not None
            and frame["seq"] > turn.seq
        )

    def beat(self) -> None:
        """Pings every ping interval from the socket's opening on, as the widget sends them
        (a socket that waits silent for the others to open would be closed as idle)."""
        self.heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        interval = self.plan.ping_interval
        next_ping = time.perf_counter() + interval * (self.index / self.plan.total)
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(max(0.0, next_ping - time.perf_counter()))
                if self.ping_sent is None:  # an unanswered ping is not sent again
                    self.ping_sent = time.perf_counter()
                    await self.ws.send('{"type": "ping"}')
                next_ping += interval

    async def drive(self, started: float) -> None:
        """A message every interval, each session at its own offset, so the load is even
        rather than in bursts."""
        plan = self.plan
        self.started = started
        if plan.heartbeats_only:
            await asyncio.sleep(max(0.0, started + plan.duration - time.perf_counter()))
            return
        next_message = started + plan.interval * (self.index / plan.total)
        deadline = started + plan.duration
        while next_message < deadline:
            await asyncio.sleep(max(0.0, next_message - time.perf_counter()))
            await self._message()
            next_message += plan.interval
            if next_message < time.perf_counter():
                self.stats.late += 1
                next_message = time.perf_counter()

    async def _message(self) -> None:
        self.count += 1
        client_msg_id = f"b{self.index}-{self.count}"
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        frame = {"type": "message", "client_msg_id": client_msg_id, "text": QUESTION}
        self.turn = Turn(client_msg_id, time.perf_counter(), done)
        await self.ws.send(json.dumps(frame, ensure_ascii=False))
        try:
            answer = await asyncio.wait_for(done, REPLY_TIMEOUT)
        except TimeoutError:
            self.stats.problems["no answer within 30 s"] += 1
            return
        self.stats.round_trips.append(time.perf_counter() - self.turn.sent)
        self.stats.sent_at.append(self.turn.sent - self.started)
        if answer["type"] == "error":
            self.stats.problems[f"error {answer.get('code')}"] += 1
        elif self.plan.kind == "product" and ANSWER_MARK not in str(answer.get("text")):
            self.stats.problems["an answer without the balance"] += 1

    async def close(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _client(plan: Plan, commands: IO[str]) -> None:
    import httpx

    loop = asyncio.get_running_loop()

    async def command() -> str:
        return (await loop.run_in_executor(None, commands.readline)).strip()

    stats = Stats()
    sessions = [Session(plan, plan.first + i, stats) for i in range(len(plan.tokens))]
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    failures: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=OPEN_CONCURRENCY)
    base = f"http://127.0.0.1:{plan.port}"

    async def open_one(session: Session) -> bool:
        async with gate:
            try:
                await session.open(http)
                session.beat()
                return True
            except Exception as exc:
                failures[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
                await session.close()
                return False

    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=OPEN_TIMEOUT) as http:
        t0 = time.perf_counter()
        opened = await asyncio.gather(*(open_one(s) for s in sessions))
        live = [s for s, ok in zip(sessions, opened, strict=True) if ok]
        _say({"event": "opened", "ok": len(live), "failed": dict(failures),
              "seconds": time.perf_counter() - t0})  # fmt: skip
        if await command() != "run":
            return
        cpu0, started = time.process_time(), time.perf_counter()
        stats.recording = True
        await asyncio.gather(*(s.drive(started) for s in live), return_exceptions=True)
        stats.recording = False
        _say({"event": "ran", "round_trips": stats.round_trips, "sent_at": stats.sent_at,
              "pings": stats.pings,
              "problems": dict(stats.problems), "late": stats.late,
              "cpu": time.process_time() - cpu0, "wall": time.perf_counter() - started,
              "alive": sum(s.ws.state.name == "OPEN" for s in live)})  # fmt: skip
        await command()  # "close", once the server's memory was read
        await asyncio.gather(*(s.close() for s in live))
    _say({"event": "closed"})


def client_main() -> None:
    plan = Plan(**json.loads(sys.stdin.readline()))
    _run(_client(plan, sys.stdin))


# --- the orchestration (this process) ---------------------------------------------------------


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _runqueue_wait_s(pid: int) -> float:
    """Seconds the process's main thread (the event loop) spent ready to run but waiting for
    a core: the sign that the machine, not the server, sets the pace."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every core since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _database_cpu_s() -> dict[int, float]:
    """CPU seconds by pid of the PostgreSQL backends serving the bench's database and of
    redis-server (the machine's other databases are not counted)."""
    from sqlalchemy.engine import make_url

    database = make_url(DB_URL).database or ""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ours = command.startswith("postgres: ") and f" {database} " in command
            if ours or command.startswith("redis-server"):
                found[int(entry.name)] = _cpu_s(int(entry.name))
        except (OSError, ValueError):
            continue  # gone meanwhile
    return found


def _redis_clients() -> int:
    """Connections to the bench's Redis db (other dbs of the server are other tests')."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        db = int(client.connection_pool.connection_kwargs.get("db", 0))
        ours = [c for c in client.client_list() if int(c.get("db", -1)) == db]
        return len(ours) - 1  # not this one
    finally:
        client.close()


async def _transactions() -> int:
    """Transactions committed or rolled back in the bench's database so far."""
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(DB_URL)
    conn = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username or "postgres", database=url.database
    )
    try:
        row = await conn.fetchrow(
            "SELECT xact_commit + xact_rollback AS n FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        return int(row["n"]) - 1  # not this query's own
    finally:
        await conn.close()


def _server_env(port: int, data_dir: str) -> dict[str, str]:
    from backend.config import Settings

    # nothing of this shell's settings leaks in; a stray .env is overridden by these
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        APP_ENV="development",
        HOST="127.0.0.1",
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        DATA_DIR=data_dir,
        DATABASE_URL=DB_URL,
        REDIS_URL=REDIS_URL,
        SECRET_KEY=SECRET_KEY,
        SEED_DEMO="false",
        RUN_WORKER="false",
        RUN_BILLING_SCHEDULER="false",
        LOG_LEVEL="WARNING",
        LOG_JSON="true",
        WIDGET_ORIGINS=json.dumps([ORIGIN]),
        WEBCHAT_CONNECTIONS_PER_IP=str(LIMIT),
        WEBCHAT_SESSIONS_PER_IP_MINUTE=str(LIMIT),
        WEBCHAT_MESSAGES_PER_MINUTE=str(LIMIT),
    )
    return env


def _settings() -> Any:
    from backend.config import Settings

    return Settings(database_url=DB_URL, redis_url=REDIS_URL, secret_key=SECRET_KEY,
                    seed_demo=False, run_worker=False, _env_file=None)  # fmt: skip


async def prepare(customers: int) -> list[str]:
    """A fresh database with `customers` customers (a subscription, 350.00 on the account), and
    an access token for each, as their cabinet would pass to ProviderDesk.identify."""
    from backend.migrate import upgrade
    from backend.state import Resources
    from bench.scratch import recreate_database
    from tests.factories import access_token_for, make_customer, make_subscription, make_tariff

    await recreate_database(DB_URL)
    settings = _settings()
    res = Resources.create(settings)
    try:
        await upgrade(res.engine)
        await res.redis.flushdb()
        tokens = []
        async with res.sessionmaker() as session:
            tariff = await make_tariff(session, price=60000)
            for _ in range(customers):
                user, customer = await make_customer(session, balance=BALANCE)
                await make_subscription(session, customer, tariff)
                assert user is not None
                tokens.append(access_token_for(settings, user, customer_id=customer.id))
            await session.commit()
    finally:
        await res.close()
    return tokens


def _wait_port(port: int, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server on port {port} exited with {server.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not start")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass
class Result:
    label: str
    kind: str
    sessions: int
    opened: int
    open_seconds: float
    rss_warm_kib: int
    rss_open_kib: int
    rss_end_kib: int
    round_trips: list[float]
    sent_at: list[float]
    pings: list[float]
    problems: Counter[str]
    late: int
    alive: int
    server_cpu: float  # share of one core during the run
    server_cpu_s: float
    open_cpu_s: float  # the server's CPU while the sockets were being opened
    server_waited: float  # share of the run the event loop's thread was runnable, not running
    client_cpu: float  # of all client processes together, share of one core
    database_cpu: float  # the bench database's PostgreSQL backends and Redis, share of one core
    machine_busy: float  # share of all cores
    failures: Counter[str]
    redis_clients: int  # Redis connections of the whole server with every socket open
    closing: float  # when the clients were told to close their sockets (time.time())
    transactions: int  # PostgreSQL transactions (commits and rollbacks) during the run
    server_errors: Counter[str] = field(default_factory=Counter)
    gc: dict[str, Any] = field(default_factory=dict)

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_end_kib - self.rss_warm_kib) / max(1, self.opened)

    @property
    def kib_per_connection_open(self) -> float:
        return (self.rss_open_kib - self.rss_warm_kib) / max(1, self.opened)


def load(
    label: str, kind: str, port: int, pid: int, tokens: list[str | None], args: argparse.Namespace
) -> Result:
    """Open every session from the client processes, run the cadence, read the server."""
    rss_warm, open_cpu0 = _rss_kib(pid), _cpu_s(pid)
    per = -(-len(tokens) // args.clients)
    clients = []
    for first in range(0, len(tokens), per):
        plan = Plan(kind=kind, port=port, first=first, total=len(tokens),
                    tokens=tokens[first:first + per], duration=args.duration,
                    interval=args.interval, ping_interval=args.ping_interval,
                    heartbeats_only=args.heartbeats_only,
                    deflate=not args.no_deflate)  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--client"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(plan.__dict__) + "\n")
        proc.stdin.flush()
        clients.append(proc)

    def tell(word: str) -> None:
        for c in clients:
            assert c.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                c.stdin.write(word + "\n")
                c.stdin.flush()

    def hear(event: str) -> list[dict[str, Any]]:
        heard = []
        for c in clients:
            assert c.stdout is not None
            line = c.stdout.readline()
            if not line:
                raise SystemExit(f"a client process exited ({c.wait()}) before {event!r}")
            message = json.loads(line)
            assert message["event"] == event, message
            heard.append(message)
        return heard

    try:
        opened = hear("opened")
        open_cpu = _cpu_s(pid) - open_cpu0
        time.sleep(2)  # let the last handshakes' garbage go
        rss_open = _rss_kib(pid)
        redis_clients = _redis_clients()
        os.kill(pid, signal.SIGUSR1)  # the GC watch's snapshot at the start
        cpu0, busy0, db0 = _cpu_s(pid), _machine_busy(), _database_cpu_s()
        waited0 = _runqueue_wait_s(pid)
        xacts0 = _run(_transactions())
        tell("run")
        ran = hear("ran")
        rss_end = _rss_kib(pid)
        cpu1, busy1, db1 = _cpu_s(pid), _machine_busy(), _database_cpu_s()
        os.kill(pid, signal.SIGUSR1)  # and at the end
        waited = _runqueue_wait_s(pid) - waited0
        xacts = _run(_transactions()) - xacts0
        closing = time.time()
        tell("close")
        hear("closed")
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                c.wait(timeout=30)
            if c.poll() is None:
                c.kill()
    wall = max(r["wall"] for r in ran)
    failures: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    for o in opened:
        failures.update(o["failed"])
    for r in ran:
        problems.update(r["problems"])
    return Result(
        label=label,
        kind=kind,
        sessions=len(tokens),
        opened=sum(o["ok"] for o in opened),
        open_seconds=max(o["seconds"] for o in opened),
        rss_warm_kib=rss_warm,
        rss_open_kib=rss_open,
        rss_end_kib=rss_end,
        round_trips=[x for r in ran for x in r["round_trips"]],
        sent_at=[x for r in ran for x in r["sent_at"]],
        pings=[x for r in ran for x in r["pings"]],
        problems=problems,
        late=sum(r["late"] for r in ran),
        alive=sum(r["alive"] for r in ran),
        server_cpu=(cpu1 - cpu0) / wall,
        server_cpu_s=cpu1 - cpu0,
        open_cpu_s=open_cpu,
        server_waited=waited / wall,
        client_cpu=sum(r["cpu"] for r in ran) / wall,
        database_cpu=sum(v - db0.get(k, 0.0) for k, v in db1.items()) / wall,
        redis_clients=redis_clients,
        closing=closing,
        transactions=xacts,
        machine_busy=(busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
        failures=failures,
    )


async def _warm_up(kind: str, port: int, token: str | None) -> None:
    """A few turns before the measurement: the NLU trained, pools and caches filled."""
    import httpx

    plan = Plan(kind=kind, port=port, first=0, total=1, tokens=[token], duration=0,
                interval=1, ping_interval=1, heartbeats_only=False,
                deflate=True)  # fmt: skip
    stats = Stats()
    session = Session(plan, 0, stats)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        try:
            await session.open(http)
        except Exception as exc:
            raise SystemExit(f"{kind} warm-up: the session did not open: {exc!r}") from exc
    for _ in range(3):
        await session._message()
    await session.close()
    if stats.problems or len(stats.round_trips) != 3:
        raise SystemExit(f"{kind} warm-up failed: {dict(stats.problems)}")


def run_echo(args: argparse.Namespace, sessions: int) -> Result:
    from tests.support.net import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        gc_file = Path(scratch) / "gc.jsonl"
        command = [
            sys.executable,
            str(SCRIPT),
            "--serve-echo",
            str(port),
            "--gc-file",
            str(gc_file),
        ]
        server = subprocess.Popen(command, cwd=ROOT)
        try:
            _wait_port(port, server)
            _run(_warm_up("echo", port, None))
            time.sleep(1)
            result = load("bare Starlette echo", "echo", port, server.pid, [None] * sessions, args)
        finally:
            _stop(server)
        result.gc = _gc_during_run(gc_file)
        return result


def run_product(args: argparse.Namespace, tokens: list[str | None]) -> Result:
    from tests.support.net import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        gc_file = Path(data_dir) / "gc.jsonl"
        command = [sys.executable, str(SCRIPT), "--serve-product", "--gc-file", str(gc_file)]
        if args.profile:
            command += ["--profile", str(Path(args.profile).resolve())]
        log = Path(data_dir) / "server.log"
        with log.open("wb") as out:
            server = subprocess.Popen(
                command, cwd=ROOT, env=_server_env(port, data_dir), stdout=out, stderr=out
            )
        try:
            _wait_port(port, server)
            _run(_warm_up("product", port, tokens[0] if tokens else None))
            time.sleep(1)
            result = load("provider-desk /ws/chat", "product", port, server.pid, tokens, args)
        except BaseException:
            _stop(server)
            tail = log.read_text(errors="replace").splitlines()[-60:]
            print("the server's log, last lines:", *tail, sep="\n", file=sys.stderr)
            raise
        finally:
            _stop(server)
            result_log = log.read_text(errors="replace")
        result.server_errors = _errors_in(result_log, result.closing)
        result.gc = _gc_during_run(gc_file)
        return result


def _gc_during_run(gc_file: Path) -> dict[str, Any]:
    """Collections and pauses between the two snapshots taken at the run's start and end."""
    lines = gc_file.read_text().splitlines() if gc_file.exists() else []
    if len(lines) < 2:
        return {}
    before, after = json.loads(lines[0]), json.loads(lines[1])
    return {
        "count": [a - b for a, b in zip(after["count"], before["count"], strict=True)],
        "seconds": sum(after["total"]) - sum(before["total"]),
        "longest_ms": [x * 1e3 for x in after["longest"]],
    }


def _errors_in(log: str, closing: float) -> Counter[str]:
    """The server's logged warnings and errors (LOG_JSON lines), by event and exception."""
    found: Counter[str] = Counter()
    for line in log.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            if line.startswith("Traceback"):  # not through structlog
                found["Traceback"] += 1
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
            exception = str(entry.get("exception") or "").strip().splitlines()[-1:]
            where = [f"{k}={entry[k]}" for k in ("path", "error") if k in entry]
            stamp = entry.get("timestamp")
            when = (
                "(as the sockets closed)"
                if isinstance(stamp, str) and datetime.fromisoformat(stamp).timestamp() >= closing
                else "(before)"
            )
            found[" ".join([str(entry.get("event")), *where, *exception, when])[:160]] += 1
    return found


def _windows(result: Result, width: float) -> list[tuple[float, float]]:
    """(p50, p99) in ms of the round trips sent in each `width` seconds of the run."""
    buckets: dict[int, list[float]] = {}
    for at, rt in zip(result.sent_at, result.round_trips, strict=True):
        buckets.setdefault(int(at // width), []).append(rt)
    return [(_pct(v, 0.5) * 1e3, _pct(v, 0.99) * 1e3) for _, v in sorted(buckets.items())]


def _report(result: Result, heartbeats_only: bool) -> dict[str, Any]:
    figures = result.pings if heartbeats_only else result.round_trips
    what = "ping->pong" if heartbeats_only else "round trip"
    p50, p99 = _pct(figures, 0.5) * 1e3, _pct(figures, 0.99) * 1e3
    print(f"  {result.label}:")
    print(f"    sockets: {result.opened}/{result.sessions} opened in {result.open_seconds:.1f} s "
          f"({result.open_cpu_s / max(1, result.opened) * 1e3:.1f} ms of server CPU each), "
          f"{result.alive} still open at the end"
          + (f"; failures: {dict(result.failures)}" if result.failures else ""))  # fmt: skip
    print(f"    {what}: n={len(figures)}  p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
          f"max {max(figures, default=float('nan')) * 1e3:.1f} ms"
          + (f"; late sends {result.late}" if result.late else "")
          + (f"; problems: {dict(result.problems)}" if result.problems else ""))  # fmt: skip
    print(f"    server RSS: {result.rss_warm_kib / 1024:.1f} MiB warm, "
          f"{result.rss_open_kib / 1024:.1f} MiB with the sockets open, "
          f"{result.rss_end_kib / 1024:.1f} MiB at the end = "
          f"{result.kib_per_connection_open:.1f} / {result.kib_per_connection:.1f} KiB "
          "per connection")  # fmt: skip
    if not heartbeats_only and result.round_trips and result.kind == "product":
        per_turn = result.transactions / len(result.round_trips)
        cpu_ms = result.server_cpu_s / len(result.round_trips) * 1e3
        print(f"    per turn: {cpu_ms:.1f} ms of server CPU (pings included: at most "
              f"{1e3 / cpu_ms:.0f} turns/s on one free core), {per_turn:.1f} PostgreSQL "
              f"transactions; Redis: {result.redis_clients} connections with the sockets "
              "open")  # fmt: skip
    elif result.kind == "product":
        print(f"    Redis: {result.redis_clients} connections with the sockets open")
    if not heartbeats_only and result.round_trips:
        windows = _windows(result, 10.0)
        print("    p50/p99 by 10 s of sends: "
              + ", ".join(f"{p50:.0f}/{p99:.0f}" for p50, p99 in windows) + " ms")  # fmt: skip
    print(f"    CPU during the run (share of one core): server {result.server_cpu:.0%}, "
          f"clients {result.client_cpu:.0%}, PostgreSQL + Redis {result.database_cpu:.0%}; "
          f"whole machine {result.machine_busy:.0%} busy of {os.cpu_count()} cores; the "
          f"server's event loop waited for a core {result.server_waited:.0%} of the "
          "time")  # fmt: skip
    if result.gc:
        count, longest = result.gc["count"], result.gc["longest_ms"]
        print(f"    garbage collector during the run: {sum(count)} collections "
              f"(generation 0/1/2: {count[0]}/{count[1]}/{count[2]}), "
              f"{result.gc['seconds'] * 1e3:.0f} ms in all, the longest "
              f"{longest[0]:.1f}/{longest[1]:.1f}/{longest[2]:.1f} ms")  # fmt: skip
    if result.server_errors:
        print(f"    server warnings and errors: {dict(result.server_errors.most_common(5))}")
    return {
        "sessions": result.sessions, "opened": result.opened, "alive": result.alive,
        f"{'ping' if heartbeats_only else 'round_trip'}_p50_ms": p50,
        f"{'ping' if heartbeats_only else 'round_trip'}_p99_ms": p99,
        "kib_per_connection": result.kib_per_connection,
        "kib_per_connection_open": result.kib_per_connection_open,
        "server_cpu": result.server_cpu, "client_cpu": result.client_cpu,
        "database_cpu": result.database_cpu, "machine_busy": result.machine_busy,
        "server_waited_for_cpu": result.server_waited,
        "problems": dict(result.problems), "failures": dict(result.failures),
        "server_errors": sum(result.server_errors.values()),
        "gc": result.gc,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=60, help="seconds of cadence")
    parser.add_argument("--interval", type=float, default=10, help="seconds between messages")
    parser.add_argument("--ping-interval", type=float, default=25, help="seconds between pings")
    parser.add_argument(
        "--heartbeats-only",
        action="store_true",
        help="no messages: memory and pings (the 5,000-session variant)",
    )
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="the clients decline permessage-deflate (browsers offer it)",
    )
    parser.add_argument("--clients", type=int, default=2, help="load-generating processes")
    parser.add_argument("--profile", metavar="FILE", help="run the product under cProfile")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-echo", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--serve-product", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gc-file", help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    _raise_fd_limit()
    if args.client:
        client_main()
        return
    if args.serve_echo:
        serve_echo(args.serve_echo, args.gc_file)
        return
    if args.serve_product:
        serve_product(args.gc_file, args.profile)
        return
    if args.sessions < 1 or args.clients < 1 or args.duration <= 0 or args.interval <= 0:
        parser.error("--sessions, --clients, --duration and --interval must be positive")
    customers = 1 if args.heartbeats_only else args.sessions
    t0 = time.perf_counter()
    tokens: list[str | None] = list(_run(prepare(customers)))
    if args.heartbeats_only:
        tokens = [tokens[0]] + [None] * (args.sessions - 1)  # the first one warms up
    print(f"prepared {customers} customer(s) in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)  # fmt: skip

    echo = run_echo(args, args.sessions)
    product = run_product(args, tokens)
    from bench.scratch import drop_database

    _run(drop_database(DB_URL))

    mode = (
        "heartbeats only (pings)"
        if args.heartbeats_only
        else f"a balance question every {args.interval:g} s, identified customers"
    )
    print(
        f"web chat: {args.sessions} sessions, {mode}, {args.duration:g} s, pings every "
        f"{args.ping_interval:g} s; one uvicorn process each, PostgreSQL + Redis; load from "
        f"{args.clients} client process(es) on the same {os.cpu_count()} cores"
    )
    figures: dict[str, Any] = {
        "echo": _report(echo, args.heartbeats_only),
        "product": _report(product, args.heartbeats_only),
    }
    ratio = product.kib_per_connection / max(1e-9, echo.kib_per_connection)
    met = "met" if ratio <= GOAL_MEMORY_RATIO else "MISSED"
    print(
        f"  memory per connection: {ratio:.2f}x the bare echo "
        f"(goal <= {GOAL_MEMORY_RATIO:g}x: {met})"
    )
    if not args.heartbeats_only:
        p99 = figures["product"]["round_trip_p99_ms"]
        met = "met" if p99 < GOAL_P99_MS else "MISSED"
        print(
            f"  round trip p99: {p99:.1f} ms (goal < {GOAL_P99_MS:g} ms at 1,000 sessions: {met})"
        )
    figures["memory_ratio"] = ratio
    print(json.dumps(figures))
    # Slow answers are figures; sockets that did not open or wrong answers mean the
    # benchmark did not measure what it says.
    wrong = {k: v for k, v in product.problems.items() if not k.startswith("no answer")}
    if product.failures or echo.failures or wrong or echo.problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
