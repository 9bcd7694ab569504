"""rasa-sdk is an optional extra: without it the app imports and starts, and the /rasa routes
answer 503 rasa_sdk_not_installed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from backend.config import ROOT_DIR
from backend.webchat import rasa_endpoints


def test_the_app_imports_without_rasa_sdk():
    code = (
        "import sys; sys.modules['rasa_sdk'] = None\n"
        "import backend.webchat.rasa_endpoints as r, backend.app as a\n"
        "app = a.create_app(roles=[])\n"
        "assert 'rasa_sdk' not in [m for m in sys.modules if sys.modules[m] is not None]\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT_DIR, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


async def test_routes_answer_503_without_rasa_sdk(monkeypatch, rasa_client):
    for name in ("rasa_sdk", "rasa_sdk.executor", "rasa_sdk.interfaces", "dialogs.rasa_actions"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(rasa_endpoints, "executor", rasa_endpoints._Executor())
    for response in (
        await rasa_client.get("/rasa/health"),
        await rasa_client.get("/rasa/actions"),
        await rasa_client.post("/rasa/webhook", json={"next_action": "action_check_balance"}),
    ):
        assert response.status_code == 503
        assert response.json()["error"] == "rasa_sdk_not_installed"


@pytest.fixture(autouse=True)
def _app_needs_resources(resources):
    """The routes read the app's Resources (the token setting)."""
