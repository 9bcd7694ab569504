"""provider-desk command line.

python main.py            run everything in one process (the embedded default without
                          DATABASE_URL/REDIS_URL): migrate, seed the demo once, serve the
                          API on HOST:PORT and run the notification worker
python main.py api        serve the API only (no migrations, no worker)
python main.py worker     run the notification worker only
python main.py migrate    apply database migrations
python main.py seed       create the demo data (once)
python main.py bot        the Telegram bot by long polling (TELEGRAM_BOT_TOKEN)
python main.py billing-run [--date YYYY-MM-DD]
                          the day's billing run (and any missed days before it)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from backend.config import Settings, get_settings
from backend.logging import configure_logging, get_logger

log = get_logger("main")


async def _migrate(settings: Settings) -> None:
    from backend.migrate import migrate_database

    # as the schema's owner: MIGRATE_DATABASE_URL, or DATABASE_URL when that is empty
    await migrate_database(settings)


async def _seed(settings: Settings) -> bool:
    from backend.db import create_engine, create_sessionmaker, unit_of_work
    from backend.seed import seed_demo

    engine = create_engine(settings)
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            return await seed_demo(session, settings)
    finally:
        await engine.dispose()


def _serve(settings: Settings, run_worker: bool) -> None:
    import uvicorn

    from backend.app import create_app, default_roles, warm_up_and_freeze_gc

    settings = settings.model_copy(
        update={
            "run_worker": run_worker,
            "run_billing_scheduler": run_worker and settings.run_billing_scheduler,
        }
    )
    app = create_app(settings, roles=[*default_roles(settings), warm_up_and_freeze_gc])
    print(
        f"provider-desk on "
        f"http://{settings.host}:{settings.port}  (API docs: /docs, health: /health)",
        file=sys.stderr,
        flush=True,
    )
    # proxy_headers=False: TRUSTED_PROXIES (backend/middleware.py) is the only rule that
    # decides which X-Forwarded-For to believe.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
    )


def cmd_all(settings: Settings) -> None:
    asyncio.run(_migrate(settings))
    if settings.seed_demo and asyncio.run(_seed(settings)):
        log.info("demo data created", contract="D-0001")
    _serve(settings, run_worker=settings.run_worker)


def cmd_api(settings: Settings) -> None:
    _serve(settings, run_worker=False)


def cmd_worker(settings: Settings) -> None:
    from backend.app import default_roles
    from notifications.worker import run_standalone

    # the notification worker, plus the daily billing run unless RUN_BILLING_SCHEDULER=false
    # (the bot has its own process, `python main.py bot`: one poller per token)
    roles = default_roles(settings.model_copy(update={"run_worker": True}), with_bot=False)
    asyncio.run(run_standalone(settings, roles=roles))


def cmd_bot(settings: Settings) -> None:
    """The Telegram bot by long polling, in a process of its own (one per bot token: Telegram
    allows one getUpdates consumer). In webhook mode every API process answers Telegram."""
    if settings.telegram_bot_token is None:
        print("python main.py bot: TELEGRAM_BOT_TOKEN is not set", file=sys.stderr)
        raise SystemExit(2)
    if settings.telegram_mode == "webhook":
        print(
            "python main.py bot: TELEGRAM_MODE=webhook, so the API processes (python main.py "
            "api) answer Telegram at /telegram/webhook; no polling process is needed",
            file=sys.stderr,
        )
        raise SystemExit(2)
    from bot.runner import run_polling

    asyncio.run(run_polling(settings))


def cmd_migrate(settings: Settings) -> None:
    asyncio.run(_migrate(settings))
    log.info("migrations applied")


def cmd_seed(settings: Settings) -> None:
    created = asyncio.run(_seed(settings))
    log.info("demo data created" if created else "demo data already present")


async def _billing_run(settings: Settings, day: str | None) -> int:
    """Print the JSON report (with `days_run`, `caught_up` and `gap_refused`); the exit status
    is 3 when a gap of missed days was refused (docs/billing.md, "Missed days")."""
    import json
    from datetime import date

    from backend.billing.tasks import billing_run
    from backend.state import Resources

    try:
        run_day = date.fromisoformat(day) if day else None
    except ValueError:
        print(f"billing-run: --date must be YYYY-MM-DD, not {day!r}", file=sys.stderr)
        return 2
    res = Resources.create(settings)
    try:
        report = await billing_run(res, run_day)
        print(json.dumps(report.as_dict(), ensure_ascii=False))
    finally:
        await res.close()
    if report.gap_refused is not None:
        print(
            f"billing-run: {report.gap_refused['days']} missed days "
            f"({report.gap_refused['first']}..{report.gap_refused['last']}) were not charged",
            file=sys.stderr,
        )
        return 3
    return 0


def cmd_billing_run(settings: Settings, day: str | None = None) -> None:
    status = asyncio.run(_billing_run(settings, day))
    if status:
        raise SystemExit(status)


def cmd_nlu(action: str | None, path: str | None) -> None:
    from pathlib import Path

    from dialogs.nlu.cli import parse_stream, run_test

    if action == "parse":
        raise SystemExit(parse_stream(sys.stdin, sys.stdout))
    if action == "test":
        raise SystemExit(run_test(Path(path) if path else None, sys.stdout))
    print("usage: python main.py nlu parse | nlu test [FILE]", file=sys.stderr)
    raise SystemExit(2)


COMMANDS = {
    "all": cmd_all,
    "api": cmd_api,
    "worker": cmd_worker,
    "migrate": cmd_migrate,
    "seed": cmd_seed,
    "billing-run": cmd_billing_run,
    "bot": cmd_bot,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="main.py", description="provider-desk")
    parser.add_argument("command", nargs="?", default="all", choices=sorted([*COMMANDS, "nlu"]))
    parser.add_argument("action", nargs="?", help="nlu: parse | test")
    parser.add_argument("path", nargs="?", help="nlu test: a Rasa NLU YAML file or folder")
    parser.add_argument("--date", help="billing-run: the business day (default: today)")
    args = parser.parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    if args.command == "billing-run":
        cmd_billing_run(settings, args.date)
    elif args.command == "nlu":
        cmd_nlu(args.action, args.path)
    else:
        COMMANDS[args.command](settings)


if __name__ == "__main__":
    main()
