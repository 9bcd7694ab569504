from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from backend.context import current_request
from backend.deps import ResourcesDep
from backend.models.tariff import Tariff
from backend.state import Resources
from dialogs.nlu.rasa_backend import RasaNLUBackend
from dialogs.nlu.service import NLUService

router = APIRouter(tags=["nlu"])

TARIFF_REFRESH_S = 60.0
PARSES_PER_MINUTE = 120


class ParseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)
    lang: Literal["ru", "en"] | None = None


class _Holder:
    """The process-wide NLU service: built once (training takes about a second, off the event
    loop), tariff names refreshed from the database at most every TARIFF_REFRESH_S."""

    def __init__(self) -> None:
        self.service: NLUService | None = None
        self.refreshed_at = 0.0
        self.lock = asyncio.Lock()

    async def get(self, res: Resources) -> NLUService:
        if self.service is None:
            async with self.lock:
                if self.service is None:
                    url = res.settings.rasa_url
                    service = NLUService(rasa=RasaNLUBackend(url) if url else None)
                    await asyncio.to_thread(service.warm_up)
                    self.service = service
        service = self.service
        if time.monotonic() - self.refreshed_at >= TARIFF_REFRESH_S:
            self.refreshed_at = time.monotonic()
            async with res.sessionmaker() as session:
                names = await session.scalars(select(Tariff.name).where(Tariff.is_active))
                service.set_tariff_names(list(names))
        return service

    def reset(self) -> None:
        self.service = None
        self.refreshed_at = 0.0


nlu_holder = _Holder()


@router.post("/nlu/parse")
async def parse(data: ParseIn, res: ResourcesDep) -> dict[str, Any]:
    """Intent and entities of one message, in Rasa's parse shape. Without `lang` the language
    is detected (transliterated Russian counts as Russian)."""
    ip = current_request().ip or "unknown"
    await res.limiter.hit("nlu-parse", ip, PARSES_PER_MINUTE, 60)
    service = await nlu_holder.get(res)
    return await service.aparse(data.text, data.lang)
