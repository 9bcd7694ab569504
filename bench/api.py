"""Benchmark: authenticated GET /api/v1/billing/balance on PostgreSQL and Redis at 50 concurrent
connections, beside a bare FastAPI endpoint returning the same JSON, measured in the same run.

    .venv/bin/python bench/api.py [--duration 15] [--connections 50] [--workers 1]

Needs `wrk` (Debian package `wrk`; installed on demand when running as root) so that the load
generator, written in C, takes little of the CPU that the servers under test share with it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/provider_desk_bench"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is needed: apt-get install wrk")
    return path


async def prepare_database() -> None:

    from backend.config import Settings
    from backend.db import create_engine, create_sessionmaker, unit_of_work
    from backend.migrate import upgrade
    from backend.seed import seed_demo
    from bench.scratch import recreate_database

    await recreate_database(DB_URL)
    settings = Settings(database_url=DB_URL, redis_url=REDIS_URL, _env_file=None)
    engine = create_engine(settings)
    await upgrade(engine)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        await seed_demo(session, settings)
    await engine.dispose()


def start_server(factory: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_DATABASE_URL": DB_URL, "BENCH_REDIS_URL": REDIS_URL}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"bench.apps:{factory}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not start")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    assert m, text
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(
    wrk: str, url: str, token: str | None, seconds: int, connections: int
) -> dict[str, float]:
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        cmd[1:1] = ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses\n{out}")
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per server")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    wrk = ensure_wrk()
    asyncio.run(prepare_database())

    from tests.support.net import free_port

    real_port, bare_port = free_port(), free_port()
    servers = [
        start_server("real", real_port, args.workers),
        start_server("bare", bare_port, args.workers),
    ]
    try:
        real_url = f"http://127.0.0.1:{real_port}/api/v1/billing/balance"
        bare_url = f"http://127.0.0.1:{bare_port}/api/v1/billing/balance"
        wait_ready(f"http://127.0.0.1:{real_port}/health")
        wait_ready(bare_url)
        login = httpx.post(
            f"http://127.0.0.1:{real_port}/api/v1/auth/login",
            json={"login": "demo@example.com", "password": "demo-password"},
        )
        token = login.json()["tokens"]["access_token"]
        check = httpx.get(real_url, headers={"Authorization": f"Bearer {token}"})
        assert check.status_code == 200, check.text
        assert check.json()["amount"] == 35000, check.text
        # warm both up (connection pools, caches)
        run_wrk(wrk, real_url, token, 3, args.connections)
        run_wrk(wrk, bare_url, None, 3, args.connections)
        results: dict[str, list[dict[str, float]]] = {"bare": [], "real": []}
        for _ in range(args.rounds):  # interleaved, so drift hits both alike
            results["bare"].append(run_wrk(wrk, bare_url, None, args.duration, args.connections))
            results["real"].append(run_wrk(wrk, real_url, token, args.duration, args.connections))
    finally:
        for s in servers:
            s.send_signal(signal.SIGTERM)
        for s in servers:
            s.wait(timeout=15)

    def best(kind: str) -> dict[str, float]:
        return max(results[kind], key=lambda r: r["rps"])

    bare, real = best("bare"), best("real")
    print(
        f"balance endpoint, {args.connections} connections, {args.workers} worker(s), "
        f"{args.duration}s x {args.rounds} rounds, PostgreSQL + Redis"
    )
    for label, r in (("bare FastAPI (baseline):", bare), ("provider-desk balance:  ", real)):
        print(
            f"  {label} {r['rps']:8.0f} req/s   p50 {r['p50_ms']:.2f} ms   p99 {r['p99_ms']:.2f} ms"
        )
    print(f"  ratio: {real['rps'] / bare['rps']:.2f} of the bare endpoint (goal >= 0.5)")
    print(json.dumps({"bare": bare, "real": real, "ratio": real["rps"] / bare["rps"]}))


if __name__ == "__main__":
    main()
