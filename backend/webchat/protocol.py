"""The frames of /ws/chat (docs/webchat-protocol.md): what the widget may send, parsed strictly
(a discriminated union on `type`; unknown fields, types and oversize values are refused), and
the server frames, built here so the document and the code name the same fields."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from backend.models import MessageDirection, MessageSender
from dialogs.engine import MAX_TEXT_CHARS
from dialogs.types import MAX_PAYLOAD_BYTES

# Close codes (RFC 6455 leaves 4000-4999 to applications).
CLOSE_AUTH = 4401  # no valid auth frame in time, or a token in the URL
CLOSE_ORIGIN = 4403  # the page's Origin is not in WIDGET_ORIGINS
CLOSE_IDLE = 4408  # no frame, not even a ping, for WEBCHAT_IDLE_SECONDS
CLOSE_RATE = 4429  # too many sockets from one address
CLIENT_MSG_ID = r"^[A-Za-z0-9_-]{1,64}$"
# An attachment's public id (backend/webchat/files.py): token_urlsafe(32).
FILE_ID = r"^[A-Za-z0-9_-]{43}$"
# The transcript names a widget attachment "web:<public id>" (a Telegram one by its file_id).
WEB_FILE_PREFIX = "web:"
# What the customer sees of the transcript: not a staff-only row (internal notes, later).
_SHOWN_SENDERS = (MessageSender.bot, MessageSender.agent, MessageSender.system)


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthFrame(_Frame):
    type: Literal["auth"]
    session_token: str = Field(min_length=1, max_length=2048)
    locale: Literal["ru", "en"] | None = None


class MessageFrame(_Frame):
    type: Literal["message"]
    client_msg_id: str = Field(pattern=CLIENT_MSG_ID)
    # Typed text, a button's payload from an earlier message frame, or an uploaded file
    # (POST /api/v1/webchat/files) with the text as its optional caption.
    text: str | None = Field(default=None, min_length=1, max_length=MAX_TEXT_CHARS)
    payload: str | None = Field(default=None, min_length=1, max_length=MAX_PAYLOAD_BYTES)
    file_id: str | None = Field(default=None, pattern=FILE_ID)

    @model_validator(mode="after")
    def _one_kind(self) -> MessageFrame:
        if self.payload is not None:
            if self.text is not None or self.file_id is not None:
                raise ValueError("a button's payload comes alone")
        elif self.text is None and self.file_id is None:
            raise ValueError("a message has text, a payload or a file")
        return self


class ResumeFrame(_Frame):
    type: Literal["resume"]
    last_seq: int = Field(ge=0, le=2**63 - 1)


class PingFrame(_Frame):
    type: Literal["ping"]


class IdentifyFrame(_Frame):
    """`ProviderDesk.identify(token)`: the host page's customer access token."""

    type: Literal["identify"]
    access_token: str = Field(min_length=1, max_length=2048)


class LogoutFrame(_Frame):
    type: Literal["logout"]


class ConsentFrame(_Frame):
    """The visitor agreed to the processing of personal data (152-FZ); asked before identify."""

    type: Literal["consent"]


class TypingFrame(_Frame):
    """The visitor is typing (for the agent's console)."""

    type: Literal["typing"]


Frame = (
    AuthFrame
    | MessageFrame
    | ResumeFrame
    | PingFrame
    | IdentifyFrame
    | LogoutFrame
    | ConsentFrame
    | TypingFrame
)
ClientFrame = Annotated[Frame, Field(discriminator="type")]
_client_frames: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class BadFrame(Exception):
    """A frame that is not JSON, not a known frame, or not valid; `client_msg_id` when one
    could be read, so the widget knows which message was refused."""

    def __init__(self, client_msg_id: str | None = None) -> None:
        super().__init__("bad frame")
        self.client_msg_id = client_msg_id


def parse(raw: str) -> Frame:
    try:
        return _client_frames.validate_json(raw)
    except (ValidationError, ValueError) as exc:
        raise BadFrame(_client_msg_id_of(raw)) from exc


def _client_msg_id_of(raw: str) -> str | None:
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    found = data.get("client_msg_id") if isinstance(data, dict) else None
    return found if isinstance(found, str) and re.fullmatch(CLIENT_MSG_ID, found) else None


# --- server frames ----------------------------------------------------------------------------


def ready(
    conversation_id: int | None, last_seq: int, *, consented: bool, policy_url: str | None
) -> dict[str, Any]:
    """`consented`: the visitor has agreed before (the widget does not ask again);
    `policy_url`: the provider's policy to link when it asks (PRIVACY_POLICY_URL)."""
    return {"type": "ready", "conversation_id": conversation_id, "last_seq": last_seq,
            "consented": consented, "policy_url": policy_url}  # fmt: skip


def consented() -> dict[str, Any]:
    return {"type": "consented"}


def typing(sender: Literal["bot", "agent"], name: str | None, on: bool) -> dict[str, Any]:
    """Someone on the provider's side is writing: the bot during a turn, or the agent."""
    return {"type": "typing", "from": sender, "name": name, "on": on}


def ack(client_msg_id: str, seq: int) -> dict[str, Any]:
    return {"type": "ack", "client_msg_id": client_msg_id, "seq": seq}


def error(code: str, detail: str, client_msg_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
    if client_msg_id is not None:
        frame["client_msg_id"] = client_msg_id
    return frame


def pong() -> dict[str, Any]:
    return {"type": "pong"}


def identified(name: str) -> dict[str, Any]:
    """The socket speaks for the customer now: the name for the widget's header, nothing more
    (the host page knows the rest)."""
    return {"type": "identified", "name": name}


def logged_out(reason: str) -> dict[str, Any]:
    """The socket speaks for nobody now: `logout`, or the identification `expired`/`revoked`."""
    return {"type": "logged_out", "reason": reason}


def message(
    seq: int,
    direction: MessageDirection,
    sender: MessageSender,
    external_id: str | None,
    text: str | None,
    payload: dict[str, Any],
) -> dict[str, Any] | None:
    """A transcript row as the widget sees it; None for what the customer must not see."""
    if direction is MessageDirection.inbound:
        frame: dict[str, Any] = {"type": "message", "seq": seq, "from": "customer",
                                 "kind": "text", "text": text,
                                 "client_msg_id": external_id}  # fmt: skip
        if isinstance(payload.get("button"), str):
            frame["payload"] = payload["button"]
        attachment = _web_attachment(payload)
        if attachment is not None:
            frame.update(kind="attachment", **attachment)
        return frame
    item = payload.get("item")
    if not isinstance(item, dict) or sender not in _SHOWN_SENDERS:
        return None
    # the Telegram invoice arguments are the bot's business, not the widget's
    shown = {k: v for k, v in item.items() if k != "telegram"}
    return {"type": "message", "seq": seq, "from": sender.value, **shown}


def _web_attachment(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The first widget attachment of an inbound row, as the echo frame names it (the public
    id the widget downloads it by)."""
    attachments = payload.get("attachments")
    if not isinstance(attachments, list):
        return None
    for entry in attachments:
        file_id = entry.get("file_id") if isinstance(entry, dict) else None
        if isinstance(file_id, str) and file_id.startswith(WEB_FILE_PREFIX):
            return {
                "file_id": file_id.removeprefix(WEB_FILE_PREFIX),
                "filename": entry.get("filename"),
                "content_type": entry.get("content_type"),
                "size": entry.get("size"),
            }
    return None
