"""Typed settings from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT_DIR / "data"

# Demo values: fine on a laptop, refused when APP_ENV=production.
DEMO_SECRET_KEY = "demo-secret-key-change-me-0123456789abcdef"  # noqa: S105
DEMO_DATABASE_URL = f"sqlite+aiosqlite:///{DATA_DIR / 'provider-desk.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["development", "test", "production"] = "development"
    app_name: str = "provider-desk"

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"

    # Empty DATABASE_URL / REDIS_URL mean the embedded default: SQLite under ./data/ and an
    # in-process Redis stand-in (fakeredis).
    database_url: str = ""
    redis_url: str = ""
    db_pool_size: int = 20
    db_echo: bool = False

    secret_key: SecretStr = SecretStr(DEMO_SECRET_KEY)
    jwt_issuer: str = "provider-desk"
    jwt_audience: str = "provider-desk-api"
    access_token_minutes: int = Field(default=10, ge=1, le=15)
    mfa_token_minutes: int = Field(default=5, ge=1, le=10)
    refresh_token_days: int = Field(default=30, ge=1)
    refresh_absolute_days: int = Field(default=90, ge=1)
    password_min_length: int = 10

    login_failures_per_account_hour: int = 100
    login_attempts_per_ip_minute: int = 30
    otp_attempts_per_user_5min: int = 5
    recovery_sends_per_account_hour: int = 3
    recovery_code_minutes: int = 15

    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000"])
    trusted_proxies: list[str] = Field(default_factory=list)

    default_locale: Literal["ru", "en"] = "ru"
    currency: str = "RUB"
    documents_dir: Path = DATA_DIR / "documents"

    seed_demo: bool = True
    run_worker: bool = True

    # Channels and integrations (used by later roles; documented in .env.example).
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: SecretStr | None = None
    telegram_payments_provider_token: SecretStr | None = None
    fcm_credentials: Path | None = None
    rasa_url: str | None = None
    alertmanager_token: SecretStr | None = None

    log_level: str = "INFO"
    log_json: bool = False

    @property
    def effective_database_url(self) -> str:
        return self.database_url or DEMO_DATABASE_URL

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @model_validator(mode="after")
    def _refuse_demo_secrets_in_production(self) -> Settings:
        if self.app_env != "production":
            return self
        problems = []
        if self.secret_key.get_secret_value() == DEMO_SECRET_KEY:
            problems.append("SECRET_KEY is the demo value")
        if len(self.secret_key.get_secret_value()) < 32:
            problems.append("SECRET_KEY must be at least 32 characters")
        if not self.database_url or self.is_sqlite:
            problems.append("DATABASE_URL must point at PostgreSQL")
        if not self.redis_url:
            problems.append("REDIS_URL must be set")
        if self.seed_demo:
            problems.append("SEED_DEMO must be false")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
