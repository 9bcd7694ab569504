"""Every outbox kind the code writes has a decision in notifications/events.py: a notice to
the customer (EVENTS), a silent done (INTERNAL) or a direct message (DIRECT). A new event
without one fails here, before its rows start to dead-letter in production.

The kinds are read from the source, not imported: `outbox.enqueue(session, "kind", ...)`
calls (the kind a literal or a module constant), `{"kind": ..., "payload": ...}` row dicts of
bulk inserts, and `INSERT INTO outbox ... SELECT 'kind'` SQL."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from backend.config import ROOT_DIR
from backend.models.customer import default_notification_preferences
from notifications.events import (
    ADAPTER,
    ALWAYS_SENT,
    DIRECT,
    EVENTS,
    INTERNAL,
    SECURITY,
    is_urgent,
    silenced,
    told_in,
)
from notifications.render import Renderer

# Code that never writes outbox rows of the product (tests write made-up kinds on purpose).
SKIPPED_DIRS = {".venv", "tests", "migrations", "bench", "node_modules"}
# enqueue() itself: its row takes the kind of its callers, which are scanned.
GENERIC_WRITER = Path("backend", "outbox.py")
SQL_INSERT = re.compile(r"INSERT\s+INTO\s+outbox\b", re.IGNORECASE)
SQL_KIND = re.compile(
    r"INSERT\s+INTO\s+outbox\s*\([^)]*\)\s*"
    r"(?:SELECT\s+(?:DISTINCT\s+ON\s*\([^)]*\)\s*)?|VALUES\s*\(\s*)'([^']+)'",
    re.IGNORECASE,
)


def _sources() -> list[Path]:
    return sorted(
        path
        for path in ROOT_DIR.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT_DIR).parts)
        and not any(part.startswith(".") for part in path.relative_to(ROOT_DIR).parts)
        and path.relative_to(ROOT_DIR) != GENERIC_WRITER
    )


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    constants[target.id] = node.value.value
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            constants[node.target.id] = node.value.value
    return constants


def _is_enqueue(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Attribute):
        return (
            func.attr == "enqueue"
            and isinstance(func.value, ast.Name)
            and (func.value.id == "outbox")
        )
    return isinstance(func, ast.Name) and func.id == "enqueue"


def _kind_argument(call: ast.Call) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "kind":
            return keyword.value
    return call.args[1] if len(call.args) > 1 else None


def _row_kind(node: ast.Dict) -> ast.expr | None:
    """The kind of a dict that is an outbox row ({"kind", "payload", "dedup_key", ...}), as
    bulk inserts of OutboxMessage build them; None for any other dict."""
    keys = {
        k.value: v
        for k, v in zip(node.keys, node.values, strict=True)
        if isinstance(k, ast.Constant)
    }
    if {"kind", "payload"} <= keys.keys():
        return keys["kind"]
    return None


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.Module, module: str) -> dict[str, str]:
    """Local name -> the dotted thing it stands for (a module or a module's attribute)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def _resolve(
    expr: ast.expr | None, module: str, imported: dict[str, str], constants: dict[str, str]
) -> str | None:
    """The string a kind expression stands for: a literal, a constant of this module or of
    an imported one; None when it is computed."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.Name):
        return constants.get(f"{module}.{expr.id}") or constants.get(imported.get(expr.id, ""))
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
        owner = imported.get(expr.value.id, expr.value.id)
        return constants.get(f"{owner}.{expr.attr}")
    return None


def scan(paths: list[Path]) -> tuple[dict[str, set[str]], list[str]]:
    """{kind: {"file:line", ...}} and the places whose kind cannot be read statically."""
    found: dict[str, set[str]] = {}
    unreadable: list[str] = []
    trees = {
        path: ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for path in paths
    }
    # "package.module.NAME" -> value, for kinds kept as constants in another module
    constants = {
        f"{_module_name(path)}.{name}": value
        for path, tree in trees.items()
        for name, value in _module_constants(tree).items()
    }

    def add(kind: str, path: Path, line: int) -> None:
        found.setdefault(kind, set()).add(f"{path.relative_to(ROOT_DIR)}:{line}")

    for path, tree in trees.items():
        module = _module_name(path)
        imported = _imported(tree, module)
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT_DIR)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and _is_enqueue(node):
                kind = _resolve(_kind_argument(node), module, imported, constants)
                if kind is None:
                    unreadable.append(f"{where}: outbox.enqueue with a computed kind")
                else:
                    add(kind, path, node.lineno)
            elif isinstance(node, ast.Dict) and (row := _row_kind(node)) is not None:
                kind = _resolve(row, module, imported, constants)
                if kind is None:
                    unreadable.append(f"{where}: an outbox row with a computed kind")
                else:
                    add(kind, path, node.lineno)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL_INSERT.search(node.value)
            ):
                inserts = len(SQL_INSERT.findall(node.value))
                kinds = SQL_KIND.findall(node.value)
                for kind in kinds:
                    add(kind, path, node.lineno)
                if len(kinds) != inserts:
                    unreadable.append(f"{where}: INSERT INTO outbox without a literal kind")
    return found, unreadable


@pytest.fixture(scope="module")
def written() -> dict[str, set[str]]:
    found, unreadable = scan(_sources())
    assert unreadable == [], "give these outbox writes a literal kind (or a module constant)"
    return found


def test_the_scan_sees_every_way_a_kind_is_written(written):
    # One of each: a literal in enqueue(), a keyword, a module constant, a Python row dict
    # and SQL. A scan that silently finds nothing must not pass the test below.
    assert "backend/billing/lifecycle.py" in str(written["subscription.restored"])
    assert "backend/auth/service.py" in str(written["auth.password_reset_code"])
    assert "backend/support/service.py" in str(written["ticket.updated"])
    # the run's SQL statement and row dicts, and the on-time promised-payment expiry
    assert len(written["subscription.blocked"]) == 3
    assert len(written["billing.low_balance"]) == 2
    assert len(written["invoice.issued"]) == 2  # the monthly run and an invoice on demand


def test_every_outbox_kind_has_a_decision(written):
    undecided = {
        kind: sorted(places)
        for kind, places in written.items()
        if kind not in {*EVENTS, *INTERNAL, *DIRECT, *ADAPTER}
        and kind not in INTERNAL
        and kind not in DIRECT
        and kind not in ADAPTER
    }
    assert undecided == {}, (
        "add these kinds to notifications.events.EVENTS (with a text in locales/*/"
        "notifications.ftl) or to INTERNAL (with the reason)"
    )


def test_the_catalogue_lists_no_kind_that_nothing_writes(written):
    assert set(EVENTS) | INTERNAL | DIRECT | ADAPTER <= set(written)


def test_a_kind_has_one_decision_only():
    assert not set(EVENTS) & INTERNAL
    assert not set(EVENTS) & DIRECT
    assert not INTERNAL & DIRECT
    assert not (set(EVENTS) | INTERNAL | DIRECT) & ADAPTER


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_every_notice_has_its_text_in_both_locales_and_a_known_category(kind):
    notice = EVENTS[kind]
    catalog = Renderer("ru").catalog
    assert catalog.bundles["ru"].has_message(notice.template)
    assert catalog.bundles["en"].has_message(notice.template)
    # a preference the customer can turn off, or one of the categories nobody can
    assert notice.category in {*default_notification_preferences(), *ALWAYS_SENT}


# Issue 12's list of what customers are told, each with the kinds that tell it.
PROMISED_NOTICES: dict[str, tuple[str, ...]] = {
    "payment credited (by any provider)": ("payment.credited",),
    "invoice issued": ("invoice.issued",),
    "low balance, a few days ahead": ("billing.low_balance",),
    "blocked and restored": ("subscription.blocked", "subscription.restored"),
    "promised payment taken and expiring": (
        "promised_payment.granted",
        "promised_payment.expiring",
    ),
    "ticket answered and status changed": ("ticket.updated",),
    "tariff change effective": ("tariff.changed",),
    "freeze starting and ending": ("suspension.started", "suspension.ending", "suspension.ended"),
    "outage started and resolved": ("outage.started", "outage.resolved"),
    "planned maintenance": ("maintenance.planned",),
    "security notices": (
        "security.new_sign_in",
        "security.password_changed",
        "security.telegram_linked",
    ),
}


@pytest.mark.parametrize("notice", sorted(PROMISED_NOTICES))
def test_every_promised_notice_has_a_producer_and_a_text(written, notice):
    for kind in PROMISED_NOTICES[notice]:
        assert kind in EVENTS, f"{notice}: {kind} is not a notice"
        assert kind in written, f"{notice}: nothing writes {kind}"


def test_security_notices_cannot_be_turned_off_and_do_not_wait():
    security = {kind for kind, notice in EVENTS.items() if notice.category == SECURITY}
    assert security == set(PROMISED_NOTICES["security notices"])
    assert SECURITY not in default_notification_preferences()
    everything_off = {**dict.fromkeys(default_notification_preferences(), False), SECURITY: False}
    for kind in security:
        assert not silenced(EVENTS[kind], everything_off)
        assert EVENTS[kind].urgent
    assert silenced(EVENTS["payment.credited"], everything_off)
    assert not silenced(EVENTS["payment.credited"], {})


def test_what_does_not_wait_out_quiet_hours():
    urgent = {kind for kind, notice in EVENTS.items() if notice.urgent}
    assert urgent == {
        "subscription.blocked",
        "outage.started",
        "outage.resolved",
        "security.new_sign_in",
        "security.password_changed",
        "security.telegram_linked",
    }
    # planned work waits, unless its producer marked this one urgent (it starts soon)
    maintenance = EVENTS["maintenance.planned"]
    assert not is_urgent(maintenance, {"title": "x"})
    assert is_urgent(maintenance, {"title": "x", "urgent": True})
    assert not is_urgent(maintenance, {"title": "x", "urgent": "yes"})


def test_the_told_in_mark_names_channels():
    assert told_in({"told_in": {"telegram": "7001"}}) == {"telegram"}
    assert told_in({"told_in": "telegram"}) == told_in({"told_in": ["telegram"]}) == {"telegram"}
    assert told_in({}) == told_in({"told_in": 7001}) == set()


def test_the_scan_catches_a_new_kind(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.notifications.test_event_catalogue.ROOT_DIR", tmp_path)
    (tmp_path / "kinds.py").write_text("REFUNDED = 'order.refunded'\n", encoding="utf-8")
    module = tmp_path / "shop.py"
    module.write_text(
        "from backend import outbox\n"
        "import kinds\n"
        "from kinds import REFUNDED as R\n"
        "KIND = 'order.shipped'\n"
        "async def a(s):\n"
        "    await outbox.enqueue(s, 'order.paid', {}, 'k')\n"
        "    await outbox.enqueue(s, KIND, {}, 'k')\n"
        "    await outbox.enqueue(s, kinds.REFUNDED, {}, 'k')\n"
        "    await outbox.enqueue(s, R, {}, 'k')\n"
        "    await outbox.enqueue(s, kind=f'order.{s}', payload={}, dedup_key='k')\n"
        "SQL = \"INSERT INTO outbox (kind, payload) SELECT 'order.lost', '{}'\"\n"
        "ROWS = [{'kind': 'order.returned', 'payload': {}, 'dedup_key': 'k'}]\n"
        "PAYLOAD = {'kind': 'act', 'customer_id': 1}\n",
        encoding="utf-8",
    )
    found, unreadable = scan([module, tmp_path / "kinds.py"])
    assert set(found) == {
        "order.paid",
        "order.shipped",
        "order.refunded",
        "order.lost",
        "order.returned",
    }
    assert len(found["order.refunded"]) == 2
    assert len(unreadable) == 1
    assert "computed kind" in unreadable[0]


async def test_adapter_kinds_wait_for_their_consumers(resources):
    """The notification worker leaves conversation events in the outbox (pending) for the
    channel adapters instead of sending or dead-lettering them."""
    from sqlalchemy import select

    from backend import outbox
    from backend.db import unit_of_work
    from backend.models import OutboxMessage, OutboxStatus
    from notifications.channels import ChannelRegistry, FakeChannel
    from notifications.worker import deliver_once

    async with unit_of_work(resources.sessionmaker) as session:
        for kind in sorted(ADAPTER):
            await outbox.enqueue(
                session, kind, {"conversation_id": 1, "channel": "telegram"}, f"t:{kind}"
            )
    channels = ChannelRegistry({"email": FakeChannel(), "sms": FakeChannel()})
    assert await deliver_once(resources, channels) == 0
    async with resources.sessionmaker() as session:
        statuses = set(await session.scalars(select(OutboxMessage.status)))
    assert statuses == {OutboxStatus.pending}
