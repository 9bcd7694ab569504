"""Bodies of the outage API and of Alertmanager's webhook call."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from backend.models import OutageStatus
from backend.validation import Line, Text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OutageCreateIn(Strict):
    """An incident on a node, in an area, or both (then customers of either are affected)."""

    title: Line = Field(min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=5000)
    area: Line | None = Field(default=None, min_length=1, max_length=64)
    node: Line | None = Field(default=None, min_length=1, max_length=64)
    expected_fix_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> OutageCreateIn:
        if not self.area and not self.node:
            raise ValueError("name the affected area or node (or both)")
        return self


class MaintenanceIn(Strict):
    """Planned work on a node, in an area, or both: announced ahead, once, to the customers
    there (`maintenance.planned`)."""

    title: Line = Field(min_length=1, max_length=200)
    area: Line | None = Field(default=None, min_length=1, max_length=64)
    node: Line | None = Field(default=None, min_length=1, max_length=64)
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _somewhere_later(self) -> MaintenanceIn:
        if not self.area and not self.node:
            raise ValueError("name the affected area or node (or both)")
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValueError("the work must end after it starts")
        return self


class MaintenanceOut(BaseModel):
    maintenance: str = Field(description="names the work: its place and start")
    notified: int = Field(description="customers the notice was queued for (once each)")


class OutageUpdateIn(Strict):
    """Only the fields present change; `description` or `expected_fix_at` null clears it."""

    title: Line | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=5000)
    expected_fix_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> OutageUpdateIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        if "title" in self.model_fields_set and self.title is None:
            raise ValueError("title cannot be null")
        return self


class OutageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    description: str | None
    area: str | None
    node: str | None
    status: OutageStatus
    started_at: datetime
    expected_fix_at: datetime | None
    resolved_at: datetime | None


class OutageList(BaseModel):
    items: list[OutageOut]
    next_before_id: int | None = Field(description="pass as `before_id` for the next page")


class OutageNotified(OutageOut):
    notified: int = Field(description="customers the notice was queued for")


# --- Alertmanager's webhook (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config)


class Lenient(BaseModel):
    # Alertmanager may add fields; what is not read here is not refused.
    model_config = ConfigDict(extra="ignore")


class AlertIn(Lenient):
    # the field names are Alertmanager's
    status: Literal["firing", "resolved"]
    labels: dict[Line, Line] = Field(default_factory=dict)
    annotations: dict[Line, Text] = Field(default_factory=dict)
    startsAt: datetime
    endsAt: datetime | None = None
    fingerprint: Line | None = Field(default=None, max_length=128)
    generatorURL: str | None = None


class AlertmanagerIn(Lenient):
    version: str | None = None
    status: Literal["firing", "resolved"] | None = None
    receiver: str | None = None
    groupKey: str | None = None
    alerts: list[AlertIn] = Field(max_length=10000)


class AlertmanagerOut(BaseModel):
    opened: int = Field(description="incidents opened (and announced)")
    reopened: int = Field(description="incidents reopened within OUTAGE_REOPEN_MINUTES")
    updated: int = Field(description="open incidents that gained or lost firing alerts")
    resolved: int = Field(description="incidents resolved (end notices queued)")
    unchanged: int = Field(description="alerts already known: a repeated delivery")
    ignored: int = Field(description="alerts without a `node` or `area` label")
    outage_ids: list[int]
