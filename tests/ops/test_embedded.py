"""`python main.py` with no database or Redis configured: the embedded default (SQLite and an
in-process Redis stand-in) migrates, seeds the demo once, serves the API, delivers
notifications, stops cleanly on SIGTERM and keeps its data across restarts."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from backend.config import ROOT_DIR, Settings
from tests.support.net import free_port

pytestmark = pytest.mark.slow

START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15
DEMO_LOGIN = {"login": "demo@example.com", "password": "demo-password"}
DEMO_BALANCE = 35000


def _env(
    data_dir: Path, port: int, billing_run: bool, public_url: bool = True
) -> tuple[dict[str, str], Path]:
    """The process environment and where its SQLite file must end up. Nothing of the
    developer's or CI's environment that Settings reads leaks in."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        APP_ENV="development",
        SEED_DEMO="true",
        RUN_WORKER="true",
        # empty means the embedded stand-in; set explicitly so a stray .env cannot change it
        REDIS_URL="",
        LOG_JSON="false",
        LOG_LEVEL="INFO",
        # no quiet hours: a notice must not wait for morning because CI runs at night
        NOTIFY_QUIET_HOURS="",
    )
    if not public_url:
        del env["PUBLIC_URL"]
    if "run_billing_scheduler" in Settings.model_fields:
        # The daily billing run charges the demo customer's first day as soon as it starts;
        # the balance checks below are about the seeded data, so they turn it off.
        env["RUN_BILLING_SCHEDULER"] = "true" if billing_run else "false"
    if "data_dir" in Settings.model_fields:
        # the real default: no DATABASE_URL at all, the SQLite file under DATA_DIR
        env["DATA_DIR"] = str(data_dir)
        return env, data_dir / "provider-desk.db"
    # Without a DATA_DIR setting the default file is ./data/provider-desk.db in the checkout;
    # an explicit SQLite URL runs the same code path without touching it.
    db_file = data_dir / "pd.db"
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{db_file}"
    env["DOCUMENTS_DIR"] = str(data_dir / "documents")
    return env, db_file


@contextmanager
def running_app(
    data_dir: Path,
    log_file: Path,
    *,
    billing_run: bool = False,
    public_url: bool = True,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[httpx.Client, Path]]:
    """Start `python main.py`, wait for /health, yield a client; stop it with SIGTERM and
    require a clean exit within STOP_TIMEOUT_S. `extra_env` adds settings (e.g. a Telegram
    token and TELEGRAM_API_BASE pointing at the tests' Bot API stand-in)."""
    port = free_port()
    env, db_file = _env(data_dir, port, billing_run, public_url)
    env.update(extra_env or {})
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "main.py"],
            cwd=ROOT_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            _wait_healthy(proc, client, log_file)
            yield client, db_file
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit within {STOP_TIMEOUT_S}s of SIGTERM\n{_tail(log_file)}")
        # uvicorn shuts down gracefully, then re-raises the signal it caught, so the exit
        # status is the SIGTERM one (143 in a shell) rather than 0.
        assert code in (0, -signal.SIGTERM), f"exit code {code}\n{_tail(log_file)}"
        text = log_file.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text
        # the background worker was stopped, not killed
        assert text.count("notification worker stopped") == text.count(
            "notification worker started"
        ), _tail(log_file)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _tail(log_file: Path, lines: int = 60) -> str:
    text = log_file.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _wait_healthy(proc: subprocess.Popen[bytes], client: httpx.Client, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"main.py exited with {proc.returncode}\n{_tail(log_file)}")
        try:
            r = client.get("/health")
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ok"
        assert body["database_backend"] == "sqlite"
        assert body["redis_backend"] == "embedded"
        return
    pytest.fail(f"/health did not answer within {START_TIMEOUT_S}s\n{_tail(log_file)}")


def _login_and_balance(client: httpx.Client) -> dict[str, object]:
    r = client.post("/api/v1/auth/login", json=DEMO_LOGIN)
    assert r.status_code == 200, r.text
    token = r.json()["tokens"]["access_token"]
    r = client.get("/api/v1/billing/balance", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _count(db_file: Path, sql: str) -> int:
    with sqlite3.connect(db_file) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _wait_for_log(log_file: Path, needle: str, within: float = 15) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = log_file.read_text(encoding="utf-8", errors="replace")
        if needle in text:
            return text
        time.sleep(0.2)
    pytest.fail(f"{needle!r} not logged within {within}s\n{_tail(log_file)}")


def test_first_start_serves_the_demo(tmp_path):
    log_file = tmp_path / "main.log"
    with running_app(tmp_path, log_file) as (client, db_file):
        balance = _login_and_balance(client)
        assert balance["amount"] == DEMO_BALANCE
        assert balance["currency"] == "RUB"

        docs = client.get("/docs")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "swagger" in docs.text.lower()
        spec = client.get("/openapi.json")
        assert spec.status_code == 200
        paths = spec.json()["paths"]
        assert "/api/v1/auth/login" in paths
        assert "/api/v1/billing/balance" in paths
        assert all(p.startswith("/api/v1/") for p in paths if p.startswith("/api"))

        # the in-process worker delivers through the log channel
        r = client.post("/api/v1/auth/password/forgot", json={"login": DEMO_LOGIN["login"]})
        assert r.status_code == 202
        text = _wait_for_log(log_file, "email (log channel)")
        assert "demo@example.com" in text.split("email (log channel)", 1)[1]
        # the code is in the developer's mailbox file, never in the log (docs/security.md)
        [mail] = (tmp_path / "dev-mail").iterdir()
        code = re.search(r"\b\d{6}\b", mail.read_text(encoding="utf-8"))
        assert code is not None and code.group() not in log_file.read_text(encoding="utf-8")

    assert db_file.exists(), "the SQLite file is not where the settings point"
    assert _count(db_file, "SELECT count(*) FROM outbox WHERE status = 'done'") == 1


def test_restart_keeps_one_copy_of_the_demo_data(tmp_path):
    log_file = tmp_path / "main.log"
    with running_app(tmp_path, log_file) as (client, db_file):
        assert _login_and_balance(client)["amount"] == DEMO_BALANCE
    first = {
        table: _count(db_file, f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
        for table in ("customers", "users", "tariffs", "invoices", "transactions")
    }

    with running_app(tmp_path, log_file) as (client, db_file):
        assert _login_and_balance(client)["amount"] == DEMO_BALANCE

    assert _count(db_file, "SELECT count(*) FROM customers WHERE contract_number = 'D-0001'") == 1
    again = {table: _count(db_file, f"SELECT count(*) FROM {table}") for table in first}  # noqa: S608
    assert again == first
    assert log_file.read_text(encoding="utf-8").count("demo data created") == 1


def test_every_default_role_starts_and_stops_cleanly(tmp_path):
    """Nothing turned off: whatever background roles the default process runs stop on SIGTERM
    within the limit (running_app checks the exit)."""
    log_file = tmp_path / "main.log"
    with running_app(tmp_path, log_file, billing_run=True) as (client, _):
        r = client.post("/api/v1/auth/login", json=DEMO_LOGIN)
        assert r.status_code == 200, r.text
        # give the roles time to do their first round of work before the stop
        time.sleep(2)
        assert client.get("/health").status_code == 200


def test_links_follow_the_port_when_public_url_is_unset(tmp_path):
    """`PORT=N python main.py` with no PUBLIC_URL: payment links point at port N."""
    log_file = tmp_path / "main.log"
    with running_app(tmp_path, log_file, public_url=False) as (client, _):
        r = client.post("/api/v1/auth/login", json=DEMO_LOGIN)
        assert r.status_code == 200, r.text
        headers = {
            "Authorization": f"Bearer {r.json()['tokens']['access_token']}",
            "Idempotency-Key": "port-follows-1",
        }
        r = client.post("/api/v1/payments", json={"amount": 60000}, headers=headers)
        assert r.status_code in (200, 201), r.text
        url = r.json()["confirmation_url"]
        assert url.startswith(f"{client.base_url}/pay/sandbox/"), url
        assert client.get(url).status_code == 200
