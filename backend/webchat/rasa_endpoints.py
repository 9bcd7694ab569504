"""The Rasa action server, served by the core itself (docs/rasa.md): Rasa's `endpoints.yml`
points `action_endpoint` at `/rasa/webhook`, and the actions of dialogs/rasa_actions.py run
in-process on the app's database pool through rasa-sdk's `ActionExecutor`.

Mounted at the root (not under /api/v1): the paths mirror rasa-sdk's own server (`/webhook`,
`/actions`, `/health`). Status codes are rasa-sdk's, because Rasa acts on them: 404 unknown
action, 449 no domain (Rasa retries with it), 400 the action rejected execution; a body that is
not an action call is 422. `?token=` (what Rasa's `action_endpoint: token:` sends) or
`Authorization: Bearer` must match `RASA_WEBHOOK_TOKEN`; with no token configured the bridge
is closed (503 `rasa_bridge_disabled`): it acts as any linked customer, so it never serves
unauthenticated.

rasa-sdk is an optional extra: without it the app still starts and these routes answer 503
`rasa_sdk_not_installed`."""

from __future__ import annotations

import hmac
import json
import logging
import zlib
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.config import Settings
from backend.deps import ResourcesDep
from backend.errors import refusals
from backend.webchat.errors import (
    InvalidActionCall,
    InvalidRasaToken,
    RasaBridgeDisabled,
    RasaNotInstalled,
)

if TYPE_CHECKING:
    from rasa_sdk.executor import ActionExecutor  # type: ignore[import-untyped]

router = APIRouter(tags=["rasa"])
log = logging.getLogger(__name__)

# A tracker carries the conversation's events; Rasa sends all of them.
MAX_BODY = 8 * 1024 * 1024
ACTIONS_PACKAGE = "dialogs.rasa_actions"


class TrackerIn(BaseModel):
    """What rasa_sdk's `Tracker.from_dict` reads; the rest of the tracker passes through."""

    model_config = ConfigDict(extra="allow")

    sender_id: str = Field(min_length=1, max_length=256)
    slots: dict[str, Any] = Field(default_factory=dict)
    latest_message: dict[str, Any] | None = None
    events: list[dict[str, Any]] = Field(default_factory=list)
    paused: bool = False
    followup_action: str | None = None
    active_loop: dict[str, Any] | None = None
    latest_action_name: str | None = None


class ActionCallIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    next_action: str = Field(min_length=1, max_length=200)
    sender_id: str | None = Field(default=None, max_length=256)
    tracker: TrackerIn
    domain: dict[str, Any] | None = None
    domain_digest: str | None = Field(default=None, max_length=200)
    version: str | None = Field(default=None, max_length=50)


class _Executor:
    """One ActionExecutor per process; rasa-sdk imported on first use only."""

    def __init__(self) -> None:
        self.executor: ActionExecutor | None = None

    def get(self) -> ActionExecutor:
        if self.executor is None:
            try:
                from rasa_sdk.executor import ActionExecutor

                from dialogs import rasa_actions
            except ImportError as exc:
                raise RasaNotInstalled() from exc
            executor = ActionExecutor()
            for action in rasa_actions.ACTIONS:
                executor.register_action(action)
            self.executor = executor
        return self.executor


executor = _Executor()


def _check_token(settings: Settings, request: Request, query_token: str | None) -> None:
    expected = settings.rasa_webhook_token
    secret = expected.get_secret_value() if expected is not None else ""
    if not secret:
        # fail closed: the actions run as whichever customer sender_id names
        raise RasaBridgeDisabled()
    given = query_token
    auth = request.headers.get("authorization", "")
    if given is None and auth[:7].lower() == "bearer ":
        given = auth[7:].strip()
    if given is None or not hmac.compare_digest(given.encode(), secret.encode()):
        raise InvalidRasaToken()


async def _action_call(request: Request) -> ActionCallIn:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise InvalidActionCall("the body is too large")
    if request.headers.get("content-encoding", "").lower() == "deflate":
        # Rasa compresses the call when COMPRESS_ACTION_SERVER_REQUEST is set
        inflater = zlib.decompressobj()
        try:
            body = inflater.decompress(body, MAX_BODY)
        except zlib.error as exc:
            raise InvalidActionCall("the body is not valid deflate data") from exc
        if inflater.unconsumed_tail:
            raise InvalidActionCall("the body is too large")
    try:
        return ActionCallIn.model_validate(json.loads(body))
    except (ValueError, ValidationError) as exc:
        raise InvalidActionCall() from exc
    except RecursionError as exc:  # JSON nested deeper than the parser's stack
        raise InvalidActionCall("the body is nested too deeply") from exc


def _rasa_error(status: int, message: str, action_name: str) -> JSONResponse:
    # rasa-sdk's error shape: Rasa reads `action_name` and `error` from a 400 / 449.
    return JSONResponse({"error": message, "action_name": action_name}, status_code=status)


TokenQuery = Annotated[str | None, Query(alias="token", max_length=512)]


@router.post(
    "/rasa/webhook",
    responses={
        400: {"description": "the action rejected execution (ActionExecutionRejection)"},
        404: {"description": "no such action"},
        449: {"description": "no domain and no known domain_digest: resend with the domain"},
        **refusals(InvalidRasaToken, InvalidActionCall, RasaBridgeDisabled, RasaNotInstalled),
    },
)
async def webhook(
    request: Request,
    resources: ResourcesDep,
    token: TokenQuery = None,
) -> Any:
    """Rasa's action-server protocol: `{"next_action", "sender_id", "tracker", "domain",
    "version"}` -> `{"events": [...], "responses": [...]}`. The customer is the one linked to
    the conversation `tracker.sender_id` ("<channel>:<chat_id>") names."""
    _check_token(resources.settings, request, token)
    ex = executor.get()
    call = await _action_call(request)
    from rasa_sdk.interfaces import (  # type: ignore[import-untyped]
        ActionExecutionRejection,
        ActionMissingDomainException,
        ActionNotFoundException,
    )

    from dialogs.rasa_actions import holder

    holder.bind(resources)
    try:
        result = await ex.run(call.model_dump(mode="json", exclude_unset=True))
    except ActionNotFoundException as exc:
        return _rasa_error(404, exc.message, exc.action_name)
    except ActionMissingDomainException as exc:
        return _rasa_error(449, exc.message, exc.action_name)
    except ActionExecutionRejection as exc:
        return _rasa_error(400, exc.message, exc.action_name)
    except (KeyError, TypeError, AttributeError) as exc:
        # a tracker rasa-sdk cannot read: the caller's fault, not ours
        log.info("unreadable rasa action call", exc_info=exc)
        raise InvalidActionCall() from exc
    return result.model_dump() if result is not None else {"events": [], "responses": []}


@router.get("/rasa/actions")
async def list_actions(
    request: Request, resources: ResourcesDep, token: TokenQuery = None
) -> list[dict[str, str]]:
    """The registered actions, as rasa-sdk's `GET /actions`: `[{"name": ...}]`."""
    _check_token(resources.settings, request, token)
    return [{"name": a.name} for a in executor.get().list_actions()]


@router.get("/rasa/health")
async def health() -> dict[str, str]:
    """`{"status": "ok"}` when the bridge can serve actions (503 without rasa-sdk)."""
    executor.get()
    return {"status": "ok"}
