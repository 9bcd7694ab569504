from __future__ import annotations

import asyncio

from backend.state import Resources


async def run_worker(resources: Resources, stop: asyncio.Event) -> None:
    await stop.wait()


async def run_standalone(settings: object) -> None:
    raise NotImplementedError
