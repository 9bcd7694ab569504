"""Bodies of the broadcast API: the segment (who), the texts (what), the schedule and the
progress."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from backend.models import BroadcastStatus
from backend.validation import MAX_ID, Line, multiline_text

# Telegram takes 4096 characters a message; the rest is room for what a channel adds.
MAX_TEXT = 3500
MAX_CONTRACTS = 10_000

Locale = Literal["ru", "en"]
BroadcastText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT),
    AfterValidator(multiline_text),
]
Code = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ContractNumber = Annotated[
    Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Everyone(Strict):
    """Every customer (except those whose personal data was erased)."""

    type: Literal["everyone"]


class TariffSegment(Strict):
    """Customers with a subscription on the tariff that has not ended (whatever its status),
    the tariff named by id or by its (unique) name."""

    type: Literal["tariff"]
    tariff_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    tariff_name: Line | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_tariff(self) -> TariffSegment:
        if (self.tariff_id is None) == (self.tariff_name is None):
            raise ValueError("name the tariff by tariff_id or by tariff_name (one of them)")
        return self


class AreaSegment(Strict):
    """Customers whose `network_area` is this code."""

    type: Literal["area"]
    area: Code


class NodeSegment(Strict):
    """Customers whose `network_node` is this code."""

    type: Literal["node"]
    node: Code


class Debtors(Strict):
    """Customers whose balance is below zero."""

    type: Literal["debtors"]


class Blocked(Strict):
    """Customers with a blocked subscription that has not ended."""

    type: Literal["blocked"]


class Contracts(Strict):
    """The customers of these contract numbers (repeats count once)."""

    type: Literal["contracts"]
    contracts: list[ContractNumber] = Field(min_length=1, max_length=MAX_CONTRACTS)

    @field_validator("contracts")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


Segment = Annotated[
    Everyone | TariffSegment | AreaSegment | NodeSegment | Debtors | Blocked | Contracts,
    Field(discriminator="type"),
]


class PreviewIn(Strict):
    segment: Segment
    marketing: StrictBool = Field(
        default=False, description="count only the customers who opted in to marketing"
    )


class PreviewOut(BaseModel):
    recipients: int = Field(description="customers the broadcast would be queued for now")
    unknown_contracts: list[str] = Field(
        default_factory=list,
        description="of a `contracts` segment, the numbers no customer has (the first 100)",
    )


class BroadcastIn(Strict):
    title: Line = Field(min_length=1, max_length=200, description="internal, never sent")
    texts: dict[Locale, BroadcastText] = Field(
        min_length=1,
        description="plain text per language; the default language's is required, a customer "
        "whose language has none gets it",
    )
    segment: Segment
    marketing: StrictBool = Field(
        default=False,
        description="a marketing message: only customers who opted in receive it",
    )
    scheduled_at: AwareDatetime | None = Field(
        default=None, description="when to send (with its offset); now when absent"
    )
    rate_per_second: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="spread the recipients' messages at this many a second (on top of the "
        "channels' own limits), so that a huge broadcast does not hold up other notices",
    )


class Progress(BaseModel):
    queued: int = Field(description="recipients' messages written so far")
    pending: int = Field(description="waiting for the worker or being sent")
    sent: int = Field(description="delivered on a channel")
    failed: int = Field(description="given up on (dead letters)")
    skipped: int = Field(
        description="processed without a delivery (no reachable channel, preferences)"
    )
    cancelled: int = Field(description="stopped by the cancellation before being sent")


class BroadcastOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    texts: dict[str, str]
    segment: dict[str, Any]
    marketing: bool
    rate_per_second: int | None
    status: BroadcastStatus
    scheduled_at: datetime
    created_by: int | None
    created_at: datetime
    started_at: datetime | None
    queued_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None
    recipients: int = Field(description="recipients queued so far (final once `queued_at` is set)")


class BroadcastDetail(BroadcastOut):
    progress: Progress


class BroadcastList(BaseModel):
    items: list[BroadcastOut]
    next_before_id: int | None = Field(description="pass as `before_id` for the next page")
