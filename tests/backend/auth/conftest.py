from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from backend.app import create_app
from backend.state import Resources


@pytest.fixture
def client_with(resources: Resources) -> Callable[..., Any]:
    """A client on an app whose settings differ from the defaults (e.g. tighter limits)."""

    @asynccontextmanager
    async def factory(ip: str = "198.51.100.1", **overrides: Any) -> AsyncIterator[AsyncClient]:
        settings = resources.settings.model_copy(update=overrides)
        res = dataclasses.replace(resources, settings=settings)
        app = create_app(settings, resources=res, roles=[])
        transport = ASGITransport(app=app, client=(ip, 40000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c

    return factory
