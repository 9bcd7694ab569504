"""`Idempotency-Key` for POST endpoints that create payments or move money (docs/reliability.md,
"Money"): the first request with a key runs the action and stores its response in the same
transaction; a repeat with the same key and body gets that response again without running the
action; the same key with a different body is refused.

Concurrent duplicates end as one action without catching IntegrityError: the claim is an
`INSERT ... ON CONFLICT DO NOTHING` on the unique (user_id, key), and PostgreSQL makes a second
insert of a key that an open transaction has inserted wait for that transaction. If it commits,
the waiter finds the stored response; if it rolls back (the action failed), the waiter claims
the key and runs the action itself. Failed actions store nothing, so a client may retry a 4xx
with the same key once the cause is fixed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.db import dialect_insert
from backend.errors import Conflict, ValidationFailed
from backend.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 128
# status_code of a claimed key whose action has not finished; never visible to other
# transactions on PostgreSQL, since claim and result commit together.
IN_PROGRESS = 0
REPLAY_HEADER = "Idempotent-Replayed"


class IdempotencyKeyRequired(ValidationFailed):
    code = "idempotency_key_required"
    detail = "the Idempotency-Key header is required for this request"


class IdempotencyKeyInvalid(ValidationFailed):
    code = "idempotency_key_invalid"
    detail = "Idempotency-Key must be 1 to 128 printable ASCII characters"


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    detail = "this Idempotency-Key was already used for a different request"


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    detail = "a request with this Idempotency-Key is still being processed"


def validate_key(value: str | None) -> str:
    if value is None or value == "":
        raise IdempotencyKeyRequired()
    if len(value) > MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in value):
        raise IdempotencyKeyInvalid()
    return value


def idempotency_key(
    value: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="A unique key per intended action (e.g. a UUID). Repeating a request "
            "with the same key and body returns the first answer instead of acting twice.",
        ),
    ] = None,
) -> str:
    return validate_key(value)


IdempotencyKeyDep = Annotated[str, Depends(idempotency_key)]


def request_hash(endpoint: str, request: BaseModel | Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the parsed request: key order, whitespace and omitted
    defaults do not make two equal requests different."""
    body = request.model_dump(mode="json") if isinstance(request, BaseModel) else dict(request)
    canonical = json.dumps(
        {"endpoint": endpoint, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]

    def to_response(self) -> JSONResponse:
        return JSONResponse(
            self.body, status_code=self.status_code, headers={REPLAY_HEADER: "true"}
        )


@dataclass(frozen=True, slots=True)
class Claimed:
    row_id: int


async def claim(
    session: AsyncSession, *, user_id: int, key: str, endpoint: str, digest: str
) -> Claimed | StoredResponse:
    """Claim the key for this request, or return the response stored by the first one.
    Blocks while another open transaction holds the same key (see the module docstring)."""
    dialect = session.get_bind().dialect.name
    insert = dialect_insert(dialect)
    stmt = (
        insert(IdempotencyKey)
        .values(
            user_id=user_id,
            key=key,
            endpoint=endpoint[:128],
            request_hash=digest,
            status_code=IN_PROGRESS,
            response={},
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.id)
    )
    row_id = (await session.execute(stmt)).scalar_one_or_none()
    if row_id is not None:
        return Claimed(int(row_id))
    existing = await session.scalar(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )
    if existing is None:  # deleted between the two statements; let the client retry
        raise IdempotencyKeyInProgress()
    if existing.endpoint != endpoint[:128] or existing.request_hash != digest:
        raise IdempotencyKeyReused()
    if existing.status_code == IN_PROGRESS:
        raise IdempotencyKeyInProgress()
    return StoredResponse(existing.status_code, dict(existing.response))


async def store(
    session: AsyncSession, claimed: Claimed, status_code: int, body: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claimed.row_id)
        .values(status_code=status_code, response=body)
    )


async def run(
    session: AsyncSession,
    *,
    user_id: int,
    key: str,
    endpoint: str,
    request: BaseModel | Mapping[str, Any],
    action: Callable[[], Awaitable[BaseModel]],
    status_code: int = 200,
) -> JSONResponse:
    """Run `action` at most once per (user, key): the endpoint's whole body in one call.
    The answer of a replay carries the header `Idempotent-Replayed: true`."""
    outcome = await claim(
        session,
        user_id=user_id,
        key=validate_key(key),
        endpoint=endpoint,
        digest=request_hash(endpoint, request),
    )
    if isinstance(outcome, StoredResponse):
        return outcome.to_response()
    result = await action()
    body = result.model_dump(mode="json")
    await store(session, outcome, status_code, body)
    return JSONResponse(body, status_code=status_code)
