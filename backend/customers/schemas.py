from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StrictBool, model_validator

from backend.auth.schemas import Phone
from backend.billing.schemas import BalanceOut, SubscriptionOut

Locale = Literal["ru", "en"]
FullName = Annotated[str, Field(min_length=2, max_length=200)]
NetworkRef = Annotated[str, Field(min_length=1, max_length=64)]
ContractNumber = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[\w\-/.]+$")]
# FCM registration tokens and installation ids are URL-safe base64 with ':' separators; a '/'
# or a space would also break DELETE /me/devices/{token}.
DeviceToken = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9_\-:.+=~]+$")]
ADDRESS_KEYS = ("city", "street", "building", "apartment", "postcode", "text")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PatchModel(Strict):
    """Absent fields stay unchanged; null clears a field only where `nullable` allows it."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PatchModel:
        for name in self.model_fields_set - self.nullable:
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AddressIn(PatchModel):
    """Address parts; in an update an absent part stays, null removes it."""

    nullable: ClassVar[frozenset[str]] = frozenset(ADDRESS_KEYS)

    city: str | None = Field(default=None, min_length=1, max_length=100)
    street: str | None = Field(default=None, min_length=1, max_length=200)
    building: str | None = Field(default=None, min_length=1, max_length=20)
    apartment: str | None = Field(default=None, min_length=1, max_length=20)
    postcode: str | None = Field(default=None, min_length=1, max_length=12)
    text: str | None = Field(default=None, min_length=1, max_length=500)


class AddressOut(BaseModel):
    city: str | None = None
    street: str | None = None
    building: str | None = None
    apartment: str | None = None
    postcode: str | None = None
    text: str | None = None


NoticeCategory = Literal["billing", "outages", "tickets", "marketing", "security"]
NoticeChannel = Literal["telegram", "fcm", "webchat", "email", "sms"]
QuietHours = Annotated[str, Field(pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")]


class NotificationPreferences(Strict):
    """The four switches, and optionally the channels per category in the customer's order
    (absent: Telegram, push, the web chat, e-mail, SMS) and their own quiet hours ("23:00-08:00",
    "" for none; absent: the provider's NOTIFY_QUIET_HOURS). A PUT without `channels` or
    `quiet_hours` keeps the stored ones; null resets them to the provider's default."""

    billing: StrictBool
    outages: StrictBool
    tickets: StrictBool
    marketing: StrictBool
    channels: (
        dict[NoticeCategory, Annotated[list[NoticeChannel], Field(min_length=1, max_length=5)]]
        | None
    ) = None
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _no_repeated_channel(self) -> NotificationPreferences:
        for category, listed in (self.channels or {}).items():
            if len(set(listed)) != len(listed):
                raise ValueError(f"channels.{category}: a channel is listed twice")
        return self


class ProfileOut(BaseModel):
    id: int
    contract_number: str
    full_name: str
    address: AddressOut
    phone: str | None
    email: str | None
    locale: str
    network_area: str | None
    network_node: str | None
    notification_preferences: NotificationPreferences


class ProfileUpdateIn(PatchModel):
    """What a customer may change about themselves; null clears phone or email."""

    nullable: ClassVar[frozenset[str]] = frozenset({"phone", "email"})

    phone: Phone | None = None
    email: EmailStr | None = None
    locale: Locale | None = None
    address: AddressIn | None = None


class StaffCustomerUpdateIn(PatchModel):
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"phone", "email", "network_area", "network_node"}
    )

    full_name: FullName | None = None
    phone: Phone | None = None
    email: EmailStr | None = None
    locale: Locale | None = None
    address: AddressIn | None = None
    network_area: NetworkRef | None = None
    network_node: NetworkRef | None = None


class CustomerCreateIn(Strict):
    full_name: FullName
    contract_number: ContractNumber | None = Field(
        default=None, description="allocated automatically when absent"
    )
    phone: Phone | None = None
    email: EmailStr | None = None
    address: AddressIn | None = None
    locale: Locale = "ru"
    network_area: NetworkRef | None = None
    network_node: NetworkRef | None = None
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="creates a sign-in for the customer with this email/phone",
    )


class CustomerSummary(BaseModel):
    id: int
    contract_number: str
    full_name: str
    phone: str | None
    email: str | None
    network_area: str | None
    network_node: str | None
    balance: int
    currency: str


class CustomerPage(BaseModel):
    items: list[CustomerSummary]
    total: int
    limit: int
    offset: int


class CustomerDetail(ProfileOut):
    user_id: int | None
    created_at: datetime
    balance: BalanceOut
    subscription: SubscriptionOut | None
    open_tickets: int
    pending_invoices: int


class DeviceIn(Strict):
    token: DeviceToken = Field(description="FCM registration token or installation id")
    platform: Literal["android", "ios", "web"]
    app_version: str | None = Field(default=None, min_length=1, max_length=32)


class DeviceOut(BaseModel):
    token: str
    platform: str | None
    app_version: str | None
    is_reachable: bool
    registered_at: datetime
    last_seen_at: datetime | None
