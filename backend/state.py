"""What the long-lived process holds: settings, the engine, sessions, Redis."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backend.auth.revocations import RevocationList
from backend.config import Settings
from backend.db import create_engine, create_sessionmaker
from backend.ratelimit import RateLimiter
from backend.redis import Redis, create_redis


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    limiter: RateLimiter
    revocations: RevocationList

    @classmethod
    def create(cls, settings: Settings) -> Resources:
        engine = create_engine(settings)
        redis = create_redis(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            redis=redis,
            limiter=RateLimiter(redis),
            revocations=RevocationList(redis),
        )

    async def close(self) -> None:
        await self.revocations.close()
        await self.redis.aclose()
        await self.engine.dispose()
