"""Files a widget visitor attaches (docs/webchat-protocol.md, "Attachments").

A file is uploaded first (`POST /api/v1/webchat/files`, backend/webchat/file_endpoints.py) into
the visitor's conversation and then sent as a message frame with its public id. The type is
what the bytes are (their magic numbers), never what the name or the browser claims: only
pictures, PDF and plain text are kept, so nothing the agent's browser could run is stored. The
bytes live in the database (`webchat_files`, at most WEBCHAT_MAX_FILE_BYTES each), so every app
process serves them.

`load_file(session, conversation_id, public_id)` is the one lookup the agent console uses;
a visitor reaches a file only through their own conversation (`load_for_visitor`)."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Channel, Conversation, WebchatFile
from backend.webchat.errors import FileNotFound, FileTooLarge, FileTypeNotAllowed

PUBLIC_ID_BYTES = 32  # token_urlsafe(32): 43 characters, as webchat_files.public_id
MAX_FILENAME = 200
# Plain text: valid UTF-8 without control characters other than tab, line feed, form feed and
# carriage return.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]+')

Kind = Literal["photo", "document"]


@dataclass(frozen=True, slots=True)
class FileType:
    content_type: str
    extension: str
    kind: Kind


JPEG = FileType("image/jpeg", "jpg", "photo")
PNG = FileType("image/png", "png", "photo")
GIF = FileType("image/gif", "gif", "photo")
WEBP = FileType("image/webp", "webp", "photo")
PDF = FileType("application/pdf", "pdf", "document")
TEXT = FileType("text/plain; charset=utf-8", "txt", "document")


def sniff(data: bytes) -> FileType | None:
    """The type of the bytes, by their magic numbers; None for anything not accepted."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    if _is_text(data):
        return TEXT
    return None


def _is_text(data: bytes) -> bool:
    if not data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return _BINARY.search(data) is None


def kind_of(content_type: str) -> Kind:
    return "photo" if content_type.startswith("image/") else "document"


def safe_filename(name: str | None, file_type: FileType) -> str:
    """The visitor's name for the file without a path, control characters or characters that
    break a header, at most 200 characters, ending in the extension of what the file is."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE_NAME.sub("_", base).strip(" ._")
    stem = base.rsplit(".", 1)[0] if "." in base else base
    stem = stem[: MAX_FILENAME - len(file_type.extension) - 1] or "file"
    return f"{stem}.{file_type.extension}"


def new_public_id() -> str:
    return secrets.token_urlsafe(PUBLIC_ID_BYTES)


async def store(
    session: AsyncSession,
    conversation_id: int,
    *,
    data: bytes,
    filename: str | None,
    max_bytes: int,
) -> WebchatFile:
    """Check the bytes and keep them for the conversation (flushed, not committed)."""
    if len(data) > max_bytes:
        raise FileTooLarge(max_bytes=max_bytes)
    file_type = sniff(data)
    if file_type is None:
        raise FileTypeNotAllowed()
    row = WebchatFile(
        public_id=new_public_id(),
        conversation_id=conversation_id,
        filename=safe_filename(filename, file_type),
        content_type=file_type.content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
    )
    session.add(row)
    await session.flush()
    return row


async def load_file(
    session: AsyncSession, conversation_id: int, public_id: str
) -> WebchatFile | None:
    """The conversation's file by its public id; None when it is not this conversation's."""
    found: WebchatFile | None = await session.scalar(
        select(WebchatFile).where(
            WebchatFile.public_id == public_id, WebchatFile.conversation_id == conversation_id
        )
    )
    return found


async def load_for_visitor(session: AsyncSession, chat_id: str, public_id: str) -> WebchatFile:
    """A file of the visitor's own conversation (by the chat id of their visitor token)."""
    found: WebchatFile | None = await session.scalar(
        select(WebchatFile)
        .join(Conversation, Conversation.id == WebchatFile.conversation_id)
        .where(
            WebchatFile.public_id == public_id,
            Conversation.channel == Channel.webchat,
            Conversation.chat_id == chat_id,
        )
    )
    if found is None:
        raise FileNotFound()
    return found
