"""The error contract: each code belongs to one error (a class and its subclasses), every error
of a domain's `errors` module carries that domain's marker, and the routes document their
refusals in OpenAPI (`responses=refusals(...)`) with the codes a client will see.

That every code has its `error-<code>` text in both locales is tests/test_locales.py's check."""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pytest

import backend
import bot
import dialogs
from backend.billing.errors import NoSubscription, PpActive, PpSubscriptionSuspended
from backend.customers.errors import CustomerNotFound
from backend.errors import AppError, DomainError, ErrorOut, NotFound, error_key, refusals
from backend.payments.errors import InvoiceToPayNotFound, PayerNotFound

DOMAIN_ERRORS = (
    "backend.auth.errors",
    "backend.billing.errors",
    "backend.broadcasts.errors",
    "backend.customers.errors",
    "backend.documents.errors",
    "backend.network.errors",
    "backend.payments.errors",
    "backend.support.errors",
    "backend.webchat.errors",
)


def _all_errors() -> list[type[AppError]]:
    for package in (backend, dialogs, bot):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    found: list[type[AppError]] = []
    stack = list(AppError.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in found:
            found.append(cls)
            stack.extend(cls.__subclasses__())
    return found


def _owner(cls: type) -> type:
    """The class that sets `cls.code`: cls itself or the ancestor it inherits the code from."""
    return next(c for c in cls.__mro__ if "code" in vars(c))


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def clashes(classes: Iterable[Any]) -> list[str]:
    """Codes set by two classes of which neither is the other's subclass: one error defined
    twice. Sharing a code is fine when it is inherited (`not_found` of CustomerNotFound and
    TicketNotFound comes from NotFound) or restated by a subclass."""
    owners: dict[str, set[type]] = defaultdict(set)
    for cls in classes:
        owners[cls.code].add(_owner(cls))
    return [
        f"{code}: {_name(a)} and {_name(b)}"
        for code, found in sorted(owners.items())
        for a in found
        for b in found
        if _name(a) < _name(b) and not (issubclass(a, b) or issubclass(b, a))
    ]


def test_each_code_belongs_to_one_error() -> None:
    errors = _all_errors()
    assert {CustomerNotFound, PayerNotFound, PpSubscriptionSuspended} <= set(errors)
    assert clashes(errors) == []


def test_the_check_finds_an_error_defined_twice() -> None:
    # Stand-ins, not AppErrors: an AppError subclass defined here would stay among the
    # subclasses the other checks walk.
    class Kind:
        code = "conflict"

    class Once(Kind):
        code = "zz_twice"

    class Twice(Kind):
        code = "zz_twice"

    class Inherits(Kind):
        pass

    class Restates(Once):
        code = "zz_twice"

    assert clashes([Kind, Once, Inherits, Restates]) == []
    [clash] = clashes([Kind, Once, Twice, Inherits])
    assert clash.startswith("zz_twice: ") and "Once" in clash and "Twice" in clash
    assert _owner(CustomerNotFound) is NotFound


def _marker(module: ModuleType) -> type:
    [marker] = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and v.__module__ == module.__name__
        and issubclass(v, Exception)
        and not issubclass(v, AppError)
    ]
    return marker


@pytest.mark.parametrize("name", DOMAIN_ERRORS)
def test_every_domain_error_carries_its_marker(name: str) -> None:
    """`except BillingError` catches every billing error; a marker is no AppError, so it has
    no code (and needs no text) of its own."""
    module = importlib.import_module(name)
    marker = _marker(module)
    errors = [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, AppError) and v.__module__ == name
    ]
    assert errors
    assert [e.__name__ for e in errors if not issubclass(e, marker)] == []
    assert issubclass(marker, DomainError)
    assert "code" not in vars(marker) and "status" not in vars(marker)


def test_refusals_group_by_status() -> None:
    responses = refusals(CustomerNotFound, NoSubscription, PpActive, CustomerNotFound)
    assert sorted(responses) == [404, 409]
    not_found = responses[404]
    assert not_found["model"] is ErrorOut
    assert not_found["description"].splitlines() == [
        "- `not_found`: customer not found",
        "- `no_subscription`: the customer has no subscription",
    ]
    examples = not_found["content"]["application/json"]["examples"]
    assert examples["NoSubscription"]["value"] == {
        "error": "no_subscription",
        "detail": "the customer has no subscription",
    }
    assert error_key("pp_active") == "error-pp-active"


def _codes(spec: dict[str, Any], method: str, path: str) -> dict[str, set[str]]:
    """status -> the codes documented for a route, read from its examples."""
    responses = spec["paths"][path][method]["responses"]
    return {
        status: {
            e["value"]["error"]
            for e in r.get("content", {}).get("application/json", {}).get("examples", {}).values()
        }
        for status, r in responses.items()
    }


def test_openapi_lists_the_refusals(app: Any) -> None:
    spec = app.openapi()
    assert "ErrorOut" in spec["components"]["schemas"]

    top_up = _codes(spec, "post", "/api/v1/payments")
    assert {PayerNotFound.code, InvoiceToPayNotFound.code} <= top_up["404"]
    assert {"customer_not_found", "invoice_not_found"} <= top_up["404"]
    assert "invoice_not_payable" in top_up["409"]
    assert {"amount_out_of_range", "idempotency_key_reused"} <= top_up["422"]
    assert "rate_limited" in top_up["429"]
    assert "provider_unavailable" in top_up["503"]

    quote = _codes(spec, "post", "/api/v1/billing/tariff-change/quote")
    assert quote["404"] == {"tariff_not_found", "no_subscription"}
    assert {"too_soon", "subscription_blocked", "pending_change_exists"} <= quote["409"]
    staff_quote = _codes(spec, "post", "/api/v1/customers/{customer_id}/tariff-change/quote")
    assert staff_quote["404"] == {"not_found", "tariff_not_found", "no_subscription"}

    promised = _codes(spec, "post", "/api/v1/billing/promised-payment")
    assert {"pp_active", "subscription_suspended", "balance_sufficient"} <= promised["409"]
    pause = _codes(spec, "post", "/api/v1/billing/suspensions/quote")
    assert {"freeze_in_past", "freeze_overlaps"} <= pause["409"]
    assert pause["422"] == {"freeze_invalid_dates"}

    download = _codes(spec, "get", "/api/v1/documents/{document_id}/download")
    assert download["409"] == {"document_corrupted"}
    ticket = _codes(spec, "post", "/api/v1/tickets/{ticket_id}/messages")
    assert ticket["409"] == {"ticket_closed"}


async def test_a_refusal_is_what_openapi_documents(app: Any, client: Any, as_customer: Any) -> None:
    """The body of a real refusal is an ErrorOut with a code the route documents."""
    _, headers = await as_customer()
    r = await client.get("/api/v1/billing/subscription", headers=headers)
    assert r.status_code == 404
    body = ErrorOut.model_validate(r.json())
    assert body.error in _codes(app.openapi(), "get", "/api/v1/billing/subscription")["404"]
