"""Typed settings from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT_DIR / "data"

# Demo values: fine on a laptop, refused when APP_ENV=production.
DEMO_SECRET_KEY = "demo-secret-key-change-me-0123456789abcdef"  # noqa: S105


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_env: Literal["development", "test", "production"] = "development"
    app_name: str = "provider-desk"

    host: str = "127.0.0.1"
    port: int = 8000
    # Empty: follows HOST and PORT (see _public_url_follows_host_and_port).
    public_url: str = ""

    # Where the embedded default keeps its SQLite file and, unless DOCUMENTS_DIR says
    # otherwise, the documents.
    data_dir: Path = DATA_DIR
    # Empty DATABASE_URL / REDIS_URL mean the embedded default: SQLite under DATA_DIR and an
    # in-process Redis stand-in (fakeredis).
    database_url: str = ""
    # Migrations run as the schema's owner; the app itself may run as a role with fewer
    # rights (docs/security.md). Empty: DATABASE_URL.
    migrate_database_url: str = ""
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

    # From this many failed logins in a row an account (not a login string) is locked for
    # LOGIN_LOCKOUT_BASE_SECONDS, doubling with each further failure, at most 15 minutes.
    login_failures_before_lockout: int = Field(default=5, ge=1)
    login_lockout_base_seconds: int = Field(default=30, ge=1, le=900)
    login_attempts_per_ip_minute: int = 30
    otp_attempts_per_user_5min: int = 5
    recovery_sends_per_account_hour: int = 3
    recovery_code_minutes: int = 15
    # Password-reset attempts (code checks) per client address and across all clients.
    password_reset_per_ip_15min: int = Field(default=20, ge=1)
    password_reset_global_per_minute: int = Field(default=120, ge=1)
    # Lifetime of an admin-issued staff 2FA enrolment link (docs/security.md).
    enrolment_link_hours: int = Field(default=24, ge=1, le=168)

    cors_origins: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:8000"])
    trusted_proxies: list[str] = Field(default_factory=list)

    default_locale: Literal["ru", "en"] = "ru"
    currency: str = "RUB"
    documents_dir: Path = DATA_DIR / "documents"

    seed_demo: bool = True
    run_worker: bool = True
    run_billing_scheduler: bool = True  # the daily billing run inside the long-running process

    # Channels and integrations (used by later roles; documented in .env.example).
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_bot_username: str | None = None  # for t.me deep links (account linking)
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: SecretStr | None = None
    telegram_payments_provider_token: SecretStr | None = None
    # In group chats the bot is silent unless this is on; then it answers what is addressed
    # to it (its commands, a mention, a reply to it) with a pointer to a private chat.
    telegram_group_chats: bool = False
    fcm_credentials: Path | None = None
    # The FCM HTTP v1 server; the send URL is {FCM_API_BASE}/v1/projects/{project}/messages:send
    # (a local stand-in in tests, as TELEGRAM_API_BASE is for Telegram).
    fcm_api_base: str = "https://fcm.googleapis.com"

    # --- notification delivery (docs/notifications.md) -------------------------------------
    # Telegram's limits, shared by every process through Redis token buckets: messages per
    # second for the whole bot, and per chat a burst then a steady rate.
    telegram_global_rate: float = Field(default=25.0, gt=0)
    telegram_chat_burst: int = Field(default=3, ge=1)
    telegram_chat_rate: float = Field(default=1.0, gt=0)
    # SMTP for e-mail notices; unset host: outside production the whole messages go to files
    # under DATA_DIR/dev-mail, in production e-mail is off.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "provider-desk <noreply@localhost>"
    # starttls: upgrade a plain connection (port 587); tls: TLS from the start (port 465); none.
    smtp_tls: Literal["starttls", "tls", "none"] = "starttls"
    # SMS through one HTTP gateway (SMS.ru's protocol); unset provider: SMS off (dev files
    # outside production, as e-mail).
    sms_provider: Literal["smsru"] | None = None
    sms_api_base: str = "https://sms.ru"
    sms_api_key: SecretStr | None = None
    sms_sender: str | None = None
    # The kinds of notice that may go by SMS (it costs money), and how many SMS a month at most.
    sms_kinds: list[str] = Field(
        default_factory=lambda: [
            "auth.password_reset_code",
            "subscription.blocked",
            "outage.started",
            "outage.resolved",
        ]
    )
    sms_monthly_cap: int = Field(default=1000, ge=0)
    # Non-urgent notices wait out these hours (BILLING_TIMEZONE) unless a customer sets their
    # own; blocks, outages and security notices do not wait. "" turns quiet hours off.
    notify_quiet_hours: str = "22:00-09:00"
    rasa_url: str | None = None
    # Required of Rasa at /rasa/webhook; unset, the bridge is closed (503 rasa_bridge_disabled).
    rasa_webhook_token: SecretStr | None = None
    alertmanager_token: SecretStr | None = None
    # An alert of a node (or area) firing again within this many minutes of its incident's
    # resolution reopens that incident instead of opening (and announcing) a new one.
    outage_reopen_minutes: int = Field(default=10, ge=0, le=1440)

    # --- billing rules (docs/isp-rules.md; every value is the provider's to change) -----
    billing_timezone: str = "Europe/Moscow"
    # daily_share: a monthly fee is charged day by day (the month's shares add up to the fee);
    # period_start: the whole monthly fee on the first billing day of the month (a mid-month
    # start pays the rest of that month at once, prorated: docs/billing.md).
    charging_mode: Literal["daily_share", "period_start"] = "daily_share"
    billing_run_hour: int = Field(default=0, ge=0, le=23)  # local hour of the daily run
    billing_chunk_size: int = Field(default=10000, ge=1)  # accounts locked per transaction
    # Days the run catches up after an outage of the scheduler; a larger gap is reported
    # loudly and not charged blindly.
    billing_max_catchup_days: int = Field(default=31, ge=1)
    block_threshold: int = 0  # block when balance < -block_threshold (minor units)
    low_balance_days: list[int] = Field(default_factory=lambda: [3, 1])
    invoice_due_days: int = 10

    pp_enabled: bool = True
    pp_term_days: int = Field(default=3, ge=1, le=7)
    pp_fee: int = Field(default=0, ge=0)
    pp_max_per_30_days: int = Field(default=1, ge=1)
    pp_require_previous_repaid: bool = True
    # The credit is debt + fee x term days, capped at pp_cap_months monthly fees; refused when
    # the debt is larger than pp_max_debt_months monthly fees.
    pp_cap_months: int = Field(default=1, ge=1)
    pp_max_debt_months: int = Field(default=1, ge=0)

    freeze_min_days: int = Field(default=7, ge=1)
    freeze_max_days: int = Field(default=90, ge=1)
    freeze_free_days_per_year: int = Field(default=30, ge=0)
    freeze_daily_fee: int = Field(default=500, ge=0)  # minor units per paid day
    freeze_max_start_ahead_days: int = Field(default=90, ge=0)
    freeze_requires_non_negative_balance: bool = True

    # Allowed tariff transitions as {"from tariff id": [to tariff ids]}; empty = any active.
    tariff_transitions: dict[str, list[int]] = Field(default_factory=dict)
    tariff_change_fee: int = Field(default=0, ge=0)
    tariff_min_days_between_changes: int = Field(default=0, ge=0)
    tariff_locked_during_pp: bool = True

    topup_min: int = Field(default=10000, ge=100)  # 100.00
    topup_max: int = Field(default=10_000_000, ge=100)  # 100 000.00
    payment_create_per_hour: int = Field(default=20, ge=1)  # per customer

    # Render acts and invoice PDFs in the billing run of the 1st (off: only on demand).
    generate_period_documents: bool = True

    # --- the provider's requisites, printed on contracts, invoices and acts ----------------
    provider_legal_name: str = ""  # empty: APP_NAME
    provider_inn: str = "7700000000"
    provider_kpp: str = "770001001"
    provider_ogrn: str = "1027700000000"
    provider_address: str = "119000, г. Москва, ул. Примерная, д. 1"
    provider_bank: str = "АО «Демо-Банк»"
    provider_bik: str = "044525000"
    provider_account: str = "40702810000000000000"
    provider_correspondent_account: str = "30101810000000000000"
    provider_phone: str = "+7 800 000-00-00"
    provider_email: str = "billing@example.com"
    provider_signatory: str = ""  # e.g. "Генеральный директор А. А. Петров"

    # --- payments -------------------------------------------------------------------------
    payment_provider: Literal["sandbox", "yookassa"] = "sandbox"
    sandbox_webhook_secret: SecretStr = SecretStr("demo-sandbox-webhook-secret")
    yookassa_api_base: str = "https://api.yookassa.ru/v3"
    yookassa_shop_id: str | None = None
    yookassa_secret_key: SecretStr | None = None
    # Reconciliation (the worker): a payment still pending this long is asked about at its
    # provider (and again this often); pending locally past the hours, it is marked expired.
    payment_reconcile_after_minutes: int = Field(default=5, ge=1)
    payment_pending_expire_hours: int = Field(default=24, ge=1)
    # YooKassa's documented notification source addresses.
    yookassa_allowed_ips: list[str] = Field(
        default_factory=lambda: [
            "185.71.76.0/27",
            "185.71.77.0/27",
            "77.75.153.0/25",
            "77.75.156.11/32",
            "77.75.156.35/32",
            "77.75.154.128/25",
            "2a02:5180::/32",
        ]
    )

    # --- conversations ----------------------------------------------------------------------
    chat_first_reply_minutes: int = Field(default=15, ge=1)  # promised to customers waiting

    # --- the web chat widget (docs/webchat-protocol.md) -----------------------------------
    # Browser origins whose pages may open /ws/chat. Empty: none in production (fail closed);
    # elsewhere the app's own origin (PUBLIC_URL), so the demo page works out of the box.
    widget_origins: list[str] = Field(default_factory=list)
    webchat_session_seconds: int = Field(default=600, ge=30, le=3600)  # a session token's life
    webchat_auth_timeout_seconds: float = Field(default=5.0, gt=0, le=30)  # the auth frame
    webchat_idle_seconds: int = Field(default=75, ge=5)  # no frame (not even a ping): closed
    webchat_max_frame_bytes: int = Field(default=8192, ge=1024, le=1_048_576)
    webchat_messages_per_minute: int = Field(default=30, ge=1)  # per connection
    webchat_sessions_per_ip_minute: int = Field(default=30, ge=1)
    webchat_connections_per_ip: int = Field(default=20, ge=1)  # open at once
    # Files a visitor attaches (jpeg/png/webp/gif/pdf/txt, sniffed): the largest, in bytes, and
    # how many uploads one visitor, and one client address, may make per minute.
    webchat_max_file_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    webchat_uploads_per_minute: int = Field(default=10, ge=1)
    # Notifications (payment credited, ticket answered ...) also go to the customer's web chat
    # conversation when it was identified to them within this many days; 0 turns that off.
    webchat_notify_days: int = Field(default=30, ge=0)
    # The provider's personal-data policy (152-FZ), linked where the widget asks for consent.
    privacy_policy_url: str = ""

    # Bearer token for /metrics; empty: /metrics is open (development only, docs/operations.md).
    metrics_token: SecretStr | None = None

    log_level: str = "INFO"
    log_json: bool = False

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'provider-desk.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def widget_allowed_origins(self) -> frozenset[str]:
        """WIDGET_ORIGINS, or outside production when it is empty, the app's own origin."""
        if self.widget_origins or self.app_env == "production":
            return frozenset(o.rstrip("/") for o in self.widget_origins)
        return frozenset({self.public_url.rstrip("/")})

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses_or_ranges(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(
                    f"TRUSTED_PROXIES: {entry!r} is not an address or a range"
                ) from exc
        return value

    @field_validator("fcm_credentials", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        # FCM_CREDENTIALS= (empty, as .env files leave it) means no push, not the path "."
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("notify_quiet_hours")
    @classmethod
    def _quiet_hours_are_a_span(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"NOTIFY_QUIET_HOURS: {value!r} is not HH:MM-HH:MM (or empty)")
        return value

    @model_validator(mode="after")
    def _public_url_follows_host_and_port(self) -> Settings:
        if not self.public_url:
            # a wildcard listen address is not an address anyone can open
            host = "127.0.0.1" if self.host in {"0.0.0.0", "::", ""} else self.host  # noqa: S104
            if ":" in host:
                host = f"[{host}]"
            self.public_url = f"http://{host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _documents_under_data_dir(self) -> Settings:
        if "documents_dir" not in self.model_fields_set:
            self.documents_dir = self.data_dir / "documents"
        return self

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
        if self.sandbox_webhook_secret.get_secret_value() == "demo-sandbox-webhook-secret" and (
            self.payment_provider == "sandbox"
        ):
            problems.append("the sandbox payment provider is for demos; set PAYMENT_PROVIDER")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
