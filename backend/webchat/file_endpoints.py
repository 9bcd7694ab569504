"""The widget's attachments over HTTP (docs/webchat-protocol.md, "Attachments"): a visitor
uploads a file into their own conversation and downloads the files of it, by the visitor token
in the `X-Visitor-Token` header (never in the URL). The agent console reads them through
`backend.webchat.files.load_file`."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Request, Response
from pydantic import BaseModel
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from backend.context import current_request
from backend.deps import ResourcesDep, SessionDep
from backend.errors import RateLimited, refusals
from backend.webchat import files, history
from backend.webchat import session as webchat_session
from backend.webchat.errors import (
    FileNotFound,
    FileTooLarge,
    FileTypeNotAllowed,
    NoFile,
    VisitorTokenInvalid,
)

router = APIRouter(tags=["webchat"])

# The multipart envelope around the file (boundaries, part headers) within this many bytes.
ENVELOPE_BYTES = 16 * 1024
# An address may hold many visitors (an office behind one NAT): a few visitors' worth.
PER_IP_FACTOR = 3
# What a downloaded file may do in a browser that opens it: nothing (no script, no plugin, no
# sniffing a picture into HTML).
DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
}

VisitorToken = Annotated[str | None, Header(alias="X-Visitor-Token")]


class FileOut(BaseModel):
    file_id: str  # the public id: send it in a message frame, download it by it
    filename: str
    content_type: str
    size: int  # bytes


def _chat_id(visitor_token: str | None) -> str:
    if visitor_token is None or not webchat_session.VISITOR_TOKEN_PATTERN.match(visitor_token):
        raise VisitorTokenInvalid()
    return webchat_session.chat_id_of(visitor_token)


async def _capped(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The body, refused as soon as it grows past `limit` (a chunked upload has no
    Content-Length to check first)."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise FileTooLarge()
        yield chunk


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post(
    "/webchat/files",
    status_code=201,
    openapi_extra=_UPLOAD_BODY,
    responses=refusals(VisitorTokenInvalid, NoFile, FileTooLarge, FileTypeNotAllowed, RateLimited),
)
async def upload_file(
    request: Request,
    res: ResourcesDep,
    session: SessionDep,
    x_visitor_token: VisitorToken = None,
) -> FileOut:
    """Attach a file to the visitor's conversation (created if the visitor has not written
    yet). JPEG, PNG, WebP, GIF, PDF or UTF-8 text, told by the bytes, at most
    WEBCHAT_MAX_FILE_BYTES. Then send `{"type": "message", "client_msg_id": ..., "file_id":
    ...}` on the socket; an upload never sent stays invisible to the agents."""
    chat_id = _chat_id(x_visitor_token)
    settings = res.settings
    limit = settings.webchat_uploads_per_minute
    await res.limiter.hit("webchat-upload", chat_id, limit, 60)
    ip = current_request().ip or "unknown"
    await res.limiter.hit("webchat-upload-ip", ip, limit * PER_IP_FACTOR, 60)
    cap = settings.webchat_max_file_bytes + ENVELOPE_BYTES
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise FileTooLarge()
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise NoFile()
    parser = MultiPartParser(
        request.headers, _capped(request, cap), max_files=1, max_fields=4, max_part_size=1024
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise NoFile(f"the body is not a form with one file: {exc.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise NoFile()
        data = await upload.read(settings.webchat_max_file_bytes + 1)
        conversation_id = await history.ensure_conversation(session, chat_id, None)
        stored = await files.store(
            session,
            conversation_id,
            data=data,
            filename=upload.filename,
            max_bytes=settings.webchat_max_file_bytes,
        )
    finally:
        await form.close()
    return FileOut(
        file_id=stored.public_id,
        filename=stored.filename,
        content_type=stored.content_type,
        size=stored.size,
    )


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the UTF-8 name (RFC 6266, RFC 5987)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get(
    "/webchat/files/{public_id}",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "the file's bytes"},
        **refusals(VisitorTokenInvalid, FileNotFound),
    },
)
async def download_file(
    public_id: str, session: SessionDep, x_visitor_token: VisitorToken = None
) -> Response:
    """A file of the visitor's own conversation (another visitor's is not found), as an
    attachment that the browser may not sniff or run."""
    chat_id = _chat_id(x_visitor_token)
    if len(public_id) != 43:
        raise FileNotFound()
    found = await files.load_for_visitor(session, chat_id, public_id)
    headers = {**DOWNLOAD_HEADERS, "Content-Disposition": content_disposition(found.filename)}
    return Response(content=found.data, media_type=found.content_type, headers=headers)
