"""Every command the README or docs/ show is run by a test, exactly as written: a documented
command that is a stub is a defect.

REGISTRY maps each command found in the code blocks and the inline code of README.md and
docs/*.md to the test that runs it, so a newly documented command without a test fails the
suite. Where a command cannot run here as written, its entry says why and what runs the
equivalent. The tests of this module run what no other test runs: the README's quick start
(`./scripts/run.sh` on port 8000, its "Try it" and "Paying in the demo" blocks and the TOTP
one-liner, read from the README at test time), the Production block with its hosts made local,
main.py's `nlu`, `seed` and `billing-run` and the ledger check as processes, and the
Development block (bootstrap, the lint line, a subset of the tests, the benchmarks).

None of these test names may contain "auth": the Development block runs `scripts/test.sh -k
auth`, which must not run this module again."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from backend.config import ROOT_DIR, Settings
from tests.conftest import TEST_REDIS_URL
from tests.ops.test_embedded import (
    DEMO_LOGIN,
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    _env,
    _wait_for_log,
)
from tests.ops.test_embedded_telegram import _healthy
from tests.ops.test_split_deployment import _database_url, _recreate, _tail
from tests.support.net import free_port

HERE = "tests/ops/test_documented_commands.py"
DOCUMENTS = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT_DIR / "docs").glob("*.md"))]
README_PORT = 8000  # the quick start's address, http://127.0.0.1:8000
AGENT_LOGIN = {"login": "agent@example.com", "password": "agent-password"}
LONG_S = 1200  # a nested test run or a benchmark: generous, never a timed assertion

QUICK_START = f"{HERE}::test_readme_quick_start_as_written"
PRODUCTION = f"{HERE}::test_readme_production_block_on_local_servers"
MAIN_PY = f"{HERE}::test_main_py_seed_billing_run_and_ledger_check"
NLU = f"{HERE}::test_main_py_nlu_parse_and_test"
DEV_SETUP = f"{HERE}::test_development_bootstrap_and_lint_line"
DEV_TESTS = f"{HERE}::test_development_test_subset"
DEV_BENCH = f"{HERE}::test_development_benchmarks"


@dataclass(frozen=True)
class Runs:
    """`test` ("path::function") runs the command; `instead` says why it runs an equivalent
    rather than the command exactly as written (empty when it runs it as written)."""

    test: str
    instead: str = ""


BROADCAST_DOCS = "tests/backend/broadcasts/test_docs.py::test_the_documented_broadcast_commands"
BROADCAST_COMMANDS = (
    (
        'curl -s -X POST "$API/api/v1/admin/broadcasts/preview"'
        ' -H "Authorization: Bearer $TOKEN"'
        " -H 'Content-Type: application/json'"
        """ -d '{"segment": {"type": "area", "area": "north-3"}}'"""
    ),
    (
        'curl -s -X POST "$API/api/v1/admin/broadcasts"'
        ' -H "Authorization: Bearer $TOKEN"'
        " -H 'Content-Type: application/json' -d @broadcast.json"
    ),
    ('curl -s "$API/api/v1/admin/broadcasts/1" -H "Authorization: Bearer $TOKEN"'),
    ('curl -s -X POST "$API/api/v1/admin/broadcasts/1/cancel" -H "Authorization: Bearer $TOKEN"'),
)
REGISTRY: dict[str, Runs] = {
    # README: quick start
    "./scripts/run.sh": Runs(QUICK_START),
    "./scripts/test.sh": Runs(
        DEV_TESTS,
        instead="the whole suite takes about 20 minutes and would run this module again; the "
        "test runs the same script with the Development block's `-k auth`",
    ),
    "TOKEN=$(curl -s -X POST http://127.0.0.1:8000/api/v1/auth/login "
    "-H 'content-type: application/json' "
    """-d '{"login": "demo@example.com", "password": "demo-password"}' | python3 -c """
    """'import json,sys; print(json.load(sys.stdin)["tokens"]["access_token"])')""": Runs(
        QUICK_START
    ),
    'curl -s http://127.0.0.1:8000/api/v1/billing/balance -H "Authorization: Bearer $TOKEN"': (
        Runs(QUICK_START)
    ),
    """.venv/bin/python -c "import pyotp; print(pyotp.TOTP('AGENTTOTPDEMOSECRETAGENTTOTPDEMO')"""
    """.now())\"""": Runs(QUICK_START),
    'curl -s -X POST http://127.0.0.1:8000/api/v1/payments -H "Authorization: Bearer $TOKEN" '
    "-H 'content-type: application/json' -H 'Idempotency-Key: demo-1' "
    """-d '{"amount": 60000}'""": Runs(QUICK_START),
    # README: commands (and the same commands in docs/)
    "python main.py": Runs("tests/ops/test_embedded.py::test_first_start_serves_the_demo"),
    "python main.py api": Runs(PRODUCTION),
    "python main.py worker": Runs(PRODUCTION),
    "python main.py migrate": Runs(PRODUCTION),
    "python main.py seed": Runs(MAIN_PY),
    "python main.py billing-run [--date YYYY-MM-DD]": Runs(MAIN_PY),
    "python main.py billing-run --date ...": Runs(MAIN_PY),
    "python main.py nlu parse": Runs(NLU),
    "python main.py nlu test [FILE]": Runs(NLU),
    "python main.py bot": Runs(
        "tests/bot/test_bot_process_kill.py::"
        "test_a_restart_takes_over_a_killed_process_and_answers_every_chat_once"
    ),
    "python -m backend.billing.ledger_check": Runs(MAIN_PY),
    # README: production
    "export APP_ENV=production "
    "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')": Runs(PRODUCTION),
    "export DATABASE_URL=postgresql+asyncpg://provider:secret@db/provider_desk "
    "REDIS_URL=redis://redis:6379/0": Runs(
        PRODUCTION,
        instead="the hosts db and redis (and the role provider) exist only under docker "
        "compose; the test runs the block with these two URLs pointed at the local PostgreSQL "
        "(a scratch database) and Redis",
    ),
    "export SEED_DEMO=false": Runs(PRODUCTION),
    "export PAYMENT_PROVIDER=yookassa YOOKASSA_SHOP_ID=your-shop-id "
    "YOOKASSA_SECRET_KEY=your-secret-key": Runs(PRODUCTION),
    # README: development
    "scripts/bootstrap.sh dev": Runs(DEV_SETUP),
    ".venv/bin/ruff format . && .venv/bin/ruff check . && .venv/bin/mypy .": Runs(DEV_SETUP),
    "scripts/test.sh -k auth": Runs(DEV_TESTS),
    ".venv/bin/python bench/api.py": Runs(DEV_BENCH),
    ".venv/bin/python bench/billing_run.py": Runs(DEV_BENCH),
    ".venv/bin/python bench/dialogs.py": Runs(DEV_BENCH),
    ".venv/bin/python bench/webchat.py": Runs(DEV_BENCH),
    ".venv/bin/python -m bench.nlu": Runs(DEV_BENCH),
    # docs/rasa.md
    "scripts/bootstrap.sh rasa": Runs(DEV_SETUP),
    "python -m rasa_sdk --actions dialogs.rasa_actions --port 5055": Runs(
        "tests/dialogs/rasa/test_action_server.py::test_standalone_action_server",
        instead="on a free port rather than 5055, so an action server already running here "
        "cannot answer in its place",
    ),
    "python -m rasa_sdk": Runs(
        "tests/dialogs/rasa/test_action_server.py::test_standalone_action_server"
    ),
    # docs/operations.md
    "alembic check": Runs(
        "tests/test_migrations.py::test_alembic_check_is_clean_on_postgres",
        instead="the sentence describes the tests: they call alembic's check command "
        "(alembic.command.check, what the CLI runs) with the project's alembic config on the "
        "test databases, not on ./data",
    ),
    # docs/security.md
    "docker compose exec postgres /docker-entrypoint-initdb.d/10-provider-desk-roles.sh": Runs(
        "tests/ops/test_compose.py::test_postgres_creates_the_app_role_on_a_new_volume",
        instead="there is no Docker engine here: that test checks that the compose file mounts "
        "the script at this path and that it runs scripts/db-roles.sql for the app role; "
        "tests/backend/audit/test_privileges.py runs db-roles.sql with psql on PostgreSQL",
    ),
}
REGISTRY.update({command: Runs(BROADCAST_DOCS) for command in BROADCAST_COMMANDS})

# --- finding the documented commands ----------------------------------------------------------

FENCE = re.compile(r"^( *)```(\w*)\n(.*?)^\1```", re.S | re.M)
SHELL_TAGS = {"", "bash", "sh", "shell", "console", "text"}
COMMAND_NAMES = {"python", "python3", "pip", "curl", "docker", "export", "alembic", "psql", "cd"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
COMMENT = re.compile(r"(^|\s+)#.*$")
INLINE_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Block:
    where: str  # file:line of the opening fence
    tag: str
    text: str  # the block's lines, dedented to the fence


def _blocks(name: str) -> list[Block]:
    text = (ROOT_DIR / name).read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        indent = len(m.group(1))
        body = "".join(line[indent:] for line in m.group(3).splitlines(keepends=True))
        found.append(Block(f"{name}:{text.count(chr(10), 0, m.start()) + 1}", m.group(2), body))
    return found


def _is_command(line: str) -> bool:
    """A line that starts with a command a reader runs: a known program, a path to a script or
    a shell variable assignment (decided by content, so diagrams and mock-ups are not)."""
    words = line.split()
    if not words:
        return False
    first = words[0]
    return (
        first in COMMAND_NAMES
        or first.startswith(("./", ".venv/bin/", "scripts/"))
        or bool(ASSIGNMENT.match(first))
    )


def _logical_lines(block: Block) -> list[str]:
    """The block's commands: `\\` continuations joined, comments dropped; in a listing (an
    untagged or text block) a command ends at a run of spaces and indented lines describe."""
    listing = block.tag in {"", "text"}
    lines = []
    for raw in re.sub(r"\s*\\\n\s*", " ", block.text).splitlines():
        if listing and raw[:1].isspace():
            continue
        line = COMMENT.sub("", raw).strip()
        if listing:
            line = re.split(r"\s{2,}", line, maxsplit=1)[0]
        if line:
            lines.append(line)
    return lines


def _block_commands(block: Block) -> list[str]:
    if block.tag not in SHELL_TAGS:
        return []
    lines = _logical_lines(block)
    return lines if any(_is_command(line) for line in lines) else []


def _inline_commands(name: str) -> list[tuple[str, str]]:
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), (ROOT_DIR / name).read_text("utf-8"))
    found = []
    for m in INLINE_CODE.finditer(text):
        span = " ".join(m.group(1).split())
        words = span.split()
        first = words[0] if words else ""
        script = first.startswith(("./", ".venv/bin/", "scripts/")) and not first.endswith("/")
        # `scripts/x.sh` alone names a file; with arguments, or as `./x`, it is run
        if first in COMMAND_NAMES or (script and (len(words) > 1 or first.startswith("./"))):
            found.append((f"{name}:{text.count(chr(10), 0, m.start()) + 1}", span))
    return found


def documented_commands() -> dict[str, str]:
    """Every command README.md and docs/*.md show -> where it is first shown."""
    found: dict[str, str] = {}
    for name in DOCUMENTS:
        for block in _blocks(name):
            for command in _block_commands(block):
                found.setdefault(command, block.where)
        for where, command in _inline_commands(name):
            found.setdefault(command, where)
    return found


def _readme_block(needle: str) -> Block:
    """The one README block that shows `needle`: the tests run what the README shows."""
    blocks = [b for b in _blocks("README.md") if needle in b.text]
    assert len(blocks) == 1, f"{len(blocks)} README blocks show {needle!r}"
    return blocks[0]


def _defines_test(ref: str) -> bool:
    path, _, function = ref.partition("::")
    file = ROOT_DIR / path
    if not function.startswith("test") or not file.is_file():
        return False
    tree = ast.parse(file.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        for node in tree.body
    )


def test_every_documented_command_has_a_test():
    documented = documented_commands()
    missing = [f"{where}: {cmd}" for cmd, where in documented.items() if cmd not in REGISTRY]
    assert not missing, (
        "documented commands no test runs (add the test and a REGISTRY entry):\n"
        + "\n".join(missing)
    )
    stale = [cmd for cmd in REGISTRY if cmd not in documented]
    assert not stale, "REGISTRY entries for commands the docs no longer show:\n" + "\n".join(stale)
    unknown = sorted({r.test for r in REGISTRY.values() if not _defines_test(r.test)})
    assert not unknown, "REGISTRY names tests that do not exist:\n" + "\n".join(unknown)
    # `scripts/test.sh -k auth` (the Development block) must not select this module's tests
    here = ast.parse((ROOT_DIR / HERE).read_text(encoding="utf-8")).body
    mine = [n.name for n in here if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert not [name for name in mine if name.startswith("test") and "auth" in name.lower()]


def test_the_finder_reads_blocks_by_content():
    """Diagrams, JSON, YAML and mock-ups are not commands; a listing's description is not part
    of its command; continuations are joined and comments dropped."""
    commands = documented_commands()
    assert "python main.py nlu parse" in commands
    assert not [c for c in commands if c.startswith(("bot ", "main.py", "{", "|"))], commands
    assert all("#" not in c for c in commands), commands
    assert any(c.startswith("TOKEN=$(curl") and "python3 -c 'import" in c for c in commands)
    assert commands["python -m rasa_sdk --actions dialogs.rasa_actions --port 5055"].startswith(
        "docs/rasa.md:"
    )


# --- running them -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def _with_venv_python(env: dict[str, str]) -> dict[str, str]:
    """`python` is the project's interpreter, as in the activated .venv (or the image) that the
    README's `python main.py` lines assume."""
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def _kill_group(pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


async def _bash(
    script: str, env: dict[str, str], *, stdin: str | None = None, within: float = START_TIMEOUT_S
) -> Ran:
    """Run `script` with bash in the checkout, as a reader pastes it into a shell there."""
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", script, cwd=ROOT_DIR, env=env, start_new_session=True,
        stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(None if stdin is None else stdin.encode()), within
        )
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        pytest.fail(f"{script!r} did not finish within {within}s")
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def _start(command: str, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """A long-running command in a process group of its own, its output in `log`."""
    with log.open("ab") as out:
        return await asyncio.create_subprocess_exec(
            "bash", "-c", f"exec {command}", cwd=ROOT_DIR, env=env, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def _stop_group(name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
    """SIGTERM to the process group, SIGKILL after STOP_TIMEOUT_S; a clean stop is exit 0 or
    the SIGTERM status (uvicorn re-raises the signal it caught) and no traceback."""
    assert proc.returncode is None, f"{name} exited early ({proc.returncode})\n{_tail(log)}"
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        code = await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        pytest.fail(f"{name}: no exit within {STOP_TIMEOUT_S}s of SIGTERM\n{_tail(log)}")
    assert code in (0, -signal.SIGTERM), f"{name}: exit code {code}\n{_tail(log)}"
    assert "Traceback" not in _tail(log, lines=100_000), _tail(log)


def _require_readme_port() -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            s.bind(("127.0.0.1", README_PORT))
        except OSError:
            pytest.fail(
                f"port {README_PORT} is taken: the README's quick start serves on "
                f"http://127.0.0.1:{README_PORT} and its curl lines call it there; stop what "
                "listens on it and run the test again"
            )


@pytest.mark.slow
async def test_readme_quick_start_as_written(tmp_path: Path) -> None:
    """`./scripts/run.sh` on the embedded default (its own DATA_DIR, so ./data is untouched),
    then the README's "Try it" and "Paying in the demo" blocks in one shell, and the agent's
    two-step sign-in with the code the TOTP one-liner prints."""
    _require_readme_port()
    # the defaults spelled out (so a stray .env cannot change them) and DATA_DIR
    env, db_file = _env(tmp_path, README_PORT, billing_run=True)
    log = tmp_path / "run.log"
    proc = await _start("./scripts/run.sh", env, log)
    try:
        base = f"http://127.0.0.1:{README_PORT}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await _healthy(client, proc, log)
            health = (await client.get("/health")).json()
            assert (health["database_backend"], health["redis_backend"]) == ("sqlite", "embedded")

            try_it = _readme_block("/api/v1/billing/balance").text
            paying = _readme_block("/api/v1/payments").text
            mark = "--- paying in the demo ---"
            ran = await _bash(f"{try_it}\necho\necho '{mark}'\n{paying}", env)
            assert ran.code == 0, ran
            balance_out, payment_out = ran.out.split(mark)
            balance = json.loads(balance_out)
            assert (balance["amount"], balance["currency"]) == (35000, "RUB"), balance
            assert balance["display"] == "350.00", balance
            payment = json.loads(payment_out)
            assert payment["status"] == "pending", payment
            assert payment["confirmation_url"].startswith(f"{base}/pay/sandbox/"), payment
            assert (await client.get(payment["confirmation_url"])).status_code == 200

            ran = await _bash(_readme_block("pyotp.TOTP").text, env)
            assert ran.code == 0 and re.fullmatch(r"\d{6}", ran.out.strip()), ran
            login = await client.post("/api/v1/auth/login", json=AGENT_LOGIN)
            assert login.status_code == 200, login.text
            assert login.json()["mfa_required"] and login.json()["tokens"] is None
            verified = await client.post(
                "/api/v1/auth/2fa/verify",
                json={"mfa_token": login.json()["mfa_token"], "code": ran.out.strip()},
            )
            assert verified.status_code == 200, verified.text
            assert verified.json()["access_token"], verified.text
        await _stop_group("./scripts/run.sh", proc, log)
    finally:
        _kill_group(proc.pid)
    assert db_file.exists(), "the SQLite file is not under the test's DATA_DIR"


@pytest.mark.slow
async def test_readme_production_block_on_local_servers(tmp_path: Path) -> None:
    """The Production block line by line, with its database and Redis URLs pointed at the local
    servers: the exports are accepted by the production checks, `migrate` finishes, `api` and
    `worker` run side by side on PostgreSQL and Redis without the demo data, and stop cleanly."""
    lines = _logical_lines(_readme_block("APP_ENV=production"))
    exports = [line for line in lines if line.startswith("export ")]
    commands = [line for line in lines if not line.startswith("export ")]
    assert commands == ["python main.py migrate", "python main.py api", "python main.py worker"]
    database_url = _database_url("production")
    script, databases = re.subn(
        r"\bDATABASE_URL=\S+", f"DATABASE_URL={database_url}", "\n".join(exports)
    )
    script, redises = re.subn(r"\bREDIS_URL=\S+", f"REDIS_URL={TEST_REDIS_URL}", script)
    assert (databases, redises) == (1, 1), script
    port = free_port()
    outside = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    outside.update(PORT=str(port), DATA_DIR=str(tmp_path / "data"))
    exported = await _bash(f"{script}\nexec env -0", _with_venv_python(outside))
    assert exported.code == 0, exported.err
    env = dict(item.split("=", 1) for item in exported.out.split("\0") if "=" in item)
    assert env["APP_ENV"] == "production" and len(env["SECRET_KEY"]) >= 32

    await _recreate(database_url)
    logs = {name: tmp_path / f"{name}.log" for name in ("api", "worker")}
    procs: dict[str, asyncio.subprocess.Process] = {}
    try:
        migrate = await _bash(commands[0], env)
        assert migrate.code == 0, migrate.err[-3000:]
        for command in commands[1:]:
            procs[command.split()[-1]] = await _start(command, env, logs[command.split()[-1]])
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await _healthy(client, procs["api"], logs["api"])
            health = (await client.get("/health")).json()
            assert health["database_backend"] == "postgresql", health
            assert health["redis_backend"] != "embedded", health
            # SEED_DEMO=false: there is no demo customer to sign in as
            login = await client.post("/api/v1/auth/login", json=DEMO_LOGIN)
            assert login.status_code == 401, login.text
        _wait_for_log(logs["worker"], "notification worker started", within=START_TIMEOUT_S)
        for name, proc in procs.items():
            await _stop_group(f"python main.py {name}", proc, logs[name])
    finally:
        for proc in procs.values():
            _kill_group(proc.pid)
        await _recreate(database_url, drop_only=True)


@pytest.mark.slow
async def test_main_py_seed_billing_run_and_ledger_check(tmp_path: Path) -> None:
    """On a scratch DATA_DIR (the embedded default): migrate and seed, the day's billing run
    without and with --date (idempotent: a second run charges nothing), then the ledger check."""
    env = _with_venv_python(_env(tmp_path, free_port(), billing_run=False)[0])
    for command in ("python main.py migrate", "python main.py seed"):
        ran = await _bash(command, env)
        assert ran.code == 0, ran.err[-3000:]
    assert "demo data created" in ran.err

    ran = await _bash("python main.py billing-run", env)
    assert ran.code == 0, ran.err[-3000:]
    today = json.loads(ran.out)
    assert today["charged"] == 0, today  # the seed posted today's fee with the run's reference
    tomorrow = (date.fromisoformat(today["day"]) + timedelta(days=1)).isoformat()
    for charged in (1, 0):
        ran = await _bash(f"python main.py billing-run --date {tomorrow}", env)
        assert ran.code == 0, ran.err[-3000:]
        report = json.loads(ran.out)
        assert (report["days_run"], report["charged"]) == ([tomorrow], charged), report

    ran = await _bash("python -m backend.billing.ledger_check", env)
    assert ran.code == 0, ran.out + ran.err[-3000:]
    report = json.loads(ran.out)
    assert (report["accounts"], report["mismatches"]) == (1, 0), report


@pytest.mark.slow
async def test_main_py_nlu_parse_and_test(tmp_path: Path) -> None:
    env = _with_venv_python(_env(tmp_path, free_port(), billing_run=False)[0])
    questions = [
        {"text": "какой у меня баланс", "lang": "ru"},
        {"text": "what is my balance", "lang": "en"},
    ]
    lines = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions)
    ran = await _bash("python main.py nlu parse", env, stdin=lines)
    assert ran.code == 0, ran.err[-3000:]
    parses = [json.loads(line) for line in ran.out.splitlines()]
    assert [p["intent"]["name"] for p in parses] == ["check_balance", "check_balance"], parses

    # without FILE: the shipped held-out set (one file per language); with FILE: that file
    for command, files in (
        ("python main.py nlu test", 2),
        ("python main.py nlu test dialogs/nlu/eval/heldout_en.yml", 1),
    ):
        ran = await _bash(command, env)
        assert ran.code == 0, ran.out + ran.err[-3000:]
        accuracies = [float(a) for a in re.findall(r"^accuracy: ([\d.]+)$", ran.out, re.M)]
        assert len(accuracies) == files and all(0 < a <= 1 for a in accuracies), ran.out


def _development_lines() -> list[str]:
    return _logical_lines(_readme_block("scripts/bootstrap.sh dev"))


async def _checkout_state() -> tuple[str, str]:
    status = await _bash("git status --porcelain", dict(os.environ))
    diff = await _bash("git diff", dict(os.environ))
    assert status.code == 0 and diff.code == 0, status.err + diff.err
    return status.out, diff.out


@pytest.mark.slow
async def test_development_bootstrap_and_lint_line() -> None:
    """`scripts/bootstrap.sh dev` (and docs/rasa.md's `scripts/bootstrap.sh rasa`) succeed and
    a second run installs nothing; the lint line passes and changes nothing in the checkout."""
    env = dict(os.environ)
    for command in ("scripts/bootstrap.sh dev", "scripts/bootstrap.sh rasa"):
        assert command in documented_commands()
        ran = await _bash(command, env, within=LONG_S)
        assert ran.code == 0, ran.out + ran.err
        stamp = ROOT_DIR / ".venv" / f".installed-{command.split()[-1]}"
        installed = stamp.stat().st_mtime_ns
        ran = await _bash(command, env, within=LONG_S)
        assert ran.code == 0, ran.out + ran.err
        assert stamp.stat().st_mtime_ns == installed, f"{command} installed again"
    ran = await _bash('.venv/bin/python -c "import rasa_sdk"', env)
    assert ran.code == 0, ran.err

    [lint] = [line for line in _development_lines() if "ruff format" in line]
    # `ruff format .` rewrites what is not formatted: never let this test do that to a checkout
    check = await _bash(".venv/bin/ruff format --check .", env)
    if check.code != 0:
        pytest.fail(f"the README's lint line would reformat files here:\n{check.out}{check.err}")
    before = await _checkout_state()
    ran = await _bash(lint, env, within=LONG_S)
    assert ran.code == 0, ran.out + ran.err
    assert await _checkout_state() == before, "the lint line changed the checkout"


@pytest.mark.slow
async def test_development_test_subset() -> None:
    """`scripts/test.sh -k auth` as the README shows it: a nested pytest run of its own (its
    own database; a derived one when TEST_DATABASE_URL fixes this run's)."""
    [command] = [line for line in _development_lines() if line.startswith("scripts/test.sh")]
    env = dict(os.environ)
    nested = _database_url("nested") if "TEST_DATABASE_URL" in env else None
    if nested:
        env["TEST_DATABASE_URL"] = nested
    try:
        ran = await _bash(command, env, within=LONG_S)
    finally:
        if nested:
            await _recreate(nested, drop_only=True)
    assert ran.code == 0, ran.out[-5000:] + ran.err[-3000:]
    assert re.search(r"\b\d+ passed\b", ran.out), ran.out[-3000:]
    assert HERE not in ran.out, "the subset ran this module again"


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [line for line in _development_lines() if "bench" in line],
    ids=lambda line: line.split()[-1],
)
async def test_development_benchmarks(command: str) -> None:
    """Each benchmark line of the Development block, on a scratch database of this run (the
    benchmarks' BENCH_* settings) so parallel runs do not share one. The figures are printed,
    not judged: the machine is shared with the rest of the suite."""
    bench_db = _database_url("bench")
    env = {**os.environ, "BENCH_DATABASE_URL": bench_db, "BENCH_REDIS_URL": TEST_REDIS_URL}
    try:
        ran = await _bash(command, env, within=LONG_S)
    finally:
        await _recreate(bench_db, drop_only=True)
    assert ran.code == 0, ran.out[-3000:] + ran.err[-3000:]
    assert ran.out.strip(), "the benchmark printed no figures"
