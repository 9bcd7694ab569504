"""docs/broadcasts.md's curl commands, run exactly as written (the same strings the documented
commands' registry holds, tests/ops/test_documented_commands.py) with bash and curl against a
real server, with its `broadcast.json` written from the document."""

from __future__ import annotations

import asyncio
import json
import os
import re

from backend.app import create_app
from backend.broadcasts import tasks
from backend.config import ROOT_DIR
from backend.models import Role
from tests.backend.payments.conftest import serve
from tests.factories import make_customer
from tests.ops.test_documented_commands import documented_commands

DOC = "docs/broadcasts.md"


def _broadcast_json() -> str:
    text = (ROOT_DIR / DOC).read_text(encoding="utf-8")
    found = re.search(r"saved as `broadcast\.json`:\s*```json\n(.*?)```", text, re.S)
    assert found, "the document shows broadcast.json"
    return found.group(1)


async def _run(command: str, cwd: str, env: dict[str, str]) -> object:
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, (command, err.decode())
    return json.loads(out)


async def test_the_documented_broadcast_commands(tmp_path, session, resources, as_staff):
    commands = [c for c, where in documented_commands().items() if where.startswith(DOC)]
    assert len(commands) == 4, commands
    preview, create, progress, cancel = commands
    for _ in range(2):
        await make_customer(session, with_user=False, network_area="north-3")
    await make_customer(session, with_user=False, network_area="south-1")
    await session.commit()
    _, admin = await as_staff(Role.admin)
    (tmp_path / "broadcast.json").write_text(_broadcast_json(), encoding="utf-8")

    async with serve(lambda _: create_app(resources.settings, resources=resources, roles=[])) as (
        _,
        base_url,
    ):
        env = {
            "PATH": os.environ["PATH"],
            "API": base_url,
            "TOKEN": admin["Authorization"].removeprefix("Bearer "),
        }
        cwd = str(tmp_path)
        assert await _run(preview, cwd, env) == {"recipients": 2, "unknown_contracts": []}
        created = await _run(create, cwd, env)
        assert isinstance(created, dict)
        assert created["id"] == 1 and created["status"] == "scheduled", created
        assert created["segment"] == {"type": "area", "area": "north-3"}
        await tasks.run_due(resources)
        shown = await _run(progress, cwd, env)
        assert isinstance(shown, dict)
        assert shown["status"] == "sending" and shown["progress"]["pending"] == 2, shown
        stopped = await _run(cancel, cwd, env)
        assert isinstance(stopped, dict)
        assert stopped["status"] == "cancelled" and stopped["progress"]["cancelled"] == 2
