"""Attachments in the widget (docs/webchat-protocol.md, "Attachments"): upload into the
visitor's own conversation, send by public id in a message frame, the transcript's
`attachments`, the echo frame, the download with its safety headers; refusals (no or a bad
visitor token, oversize, a type told by the bytes, an unknown or another visitor's file, the
upload rate) change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.models import ConversationMessage, WebchatFile
from backend.webchat import files
from tests.backend.webchat.conftest import recv, recv_until, send, turn_done

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


async def _upload(server, visitor_token: str | None, data: bytes, name: str = "router.png"):
    headers = {"X-Visitor-Token": visitor_token} if visitor_token else {}
    return await server.http.post(
        "/api/v1/webchat/files", headers=headers, files={"file": (name, data, "image/png")}
    )


async def _count(server, model) -> int:
    async with server.resources.sessionmaker() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


def _done(client_msg_id: str):
    def done(frames: list[dict]) -> bool:
        acked = any(f["type"] == "ack" and f["client_msg_id"] == client_msg_id for f in frames)
        return acked and turn_done(frames)

    return done


async def test_a_photo_is_uploaded_sent_echoed_stored_and_downloaded(chat_server):
    async with chat_server() as server, server.chat(locale="en") as (ws, started, _ready):
        token = started["visitor_token"]
        uploaded = await _upload(server, token, PNG, "../../etc/My router.jpg")
        assert uploaded.status_code == 201, uploaded.text
        out = uploaded.json()
        # the type is what the bytes are; the name loses its path and takes the right extension
        assert out["content_type"] == "image/png" and out["size"] == len(PNG)
        assert out["filename"] == "My router.png" and len(out["file_id"]) == 43

        await send(ws, {"type": "message", "client_msg_id": "f1", "file_id": out["file_id"],
                        "text": "the lights are red"})  # fmt: skip
        frames = await recv_until(ws, _done("f1"))
        ack = next(f for f in frames if f["type"] == "ack")
        echo = next(f for f in frames if f["type"] == "message" and f["from"] == "customer")
        assert echo == {"type": "message", "seq": ack["seq"], "from": "customer",
                        "kind": "attachment", "text": "the lights are red",
                        "client_msg_id": "f1", "file_id": out["file_id"],
                        "filename": "My router.png", "content_type": "image/png",
                        "size": len(PNG)}  # fmt: skip
        async with server.resources.sessionmaker() as s:
            row = await s.get(ConversationMessage, ack["seq"])
        assert row is not None
        assert row.payload["attachments"] == [{"kind": "photo",
                                               "file_id": "web:" + out["file_id"],
                                               "filename": "My router.png",
                                               "content_type": "image/png",
                                               "size": len(PNG)}]  # fmt: skip

        got = await server.http.get(
            f"/api/v1/webchat/files/{out['file_id']}", headers={"X-Visitor-Token": token}
        )
        assert got.status_code == 200 and got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-security-policy"] == "default-src 'none'; sandbox"
        assert got.headers["content-disposition"] == (
            "attachment; filename=\"My router.png\"; filename*=UTF-8''My%20router.png"
        )


async def test_an_upload_before_the_first_message_creates_the_conversation(chat_server):
    async with chat_server() as server, server.chat(locale="en") as (ws, started, ready):
        assert ready["conversation_id"] is None
        uploaded = await _upload(server, started["visitor_token"], PDF, "счёт.pdf")
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["content_type"] == "application/pdf"
        # no caption: the file alone is a message
        await send(ws, {"type": "message", "client_msg_id": "p1",
                        "file_id": uploaded.json()["file_id"]})  # fmt: skip
        frames = await recv_until(ws, _done("p1"))
        echo = next(f for f in frames if f["type"] == "message" and f["from"] == "customer")
        assert echo["kind"] == "attachment" and echo["filename"] == "счёт.pdf"
        assert echo["text"] is None
        got = await server.http.get(
            f"/api/v1/webchat/files/{echo['file_id']}",
            headers={"X-Visitor-Token": started["visitor_token"]},
        )
        assert got.headers["content-disposition"].endswith(
            "filename*=UTF-8''%D1%81%D1%87%D1%91%D1%82.pdf"
        )


async def test_another_visitors_file_can_be_neither_sent_nor_downloaded(chat_server):
    async with chat_server() as server, server.chat() as (ws, mine, _ready):
        other = await server.session()
        theirs = (await _upload(server, other["visitor_token"], PNG)).json()
        messages = await _count(server, ConversationMessage)
        await send(ws, {"type": "message", "client_msg_id": "x1", "file_id": theirs["file_id"]})
        refused = await recv(ws)
        assert refused["type"] == "error" and refused["code"] == "file_not_found"
        assert refused["client_msg_id"] == "x1"
        assert await _count(server, ConversationMessage) == messages
        got = await server.http.get(
            f"/api/v1/webchat/files/{theirs['file_id']}",
            headers={"X-Visitor-Token": mine["visitor_token"]},
        )
        assert got.status_code == 404 and got.json()["error"] == "file_not_found"


async def test_an_unknown_file_id_is_refused(chat_server):
    async with chat_server() as server, server.chat() as (ws, started, _ready):
        await send(ws, {"type": "message", "client_msg_id": "u1", "file_id": "A" * 43})
        refused = await recv(ws)
        assert refused["code"] == "file_not_found" and refused["client_msg_id"] == "u1"
        await send(ws, {"type": "message", "client_msg_id": "u2", "file_id": "short"})
        assert (await recv(ws))["code"] == "bad_frame"
        await send(ws, {"type": "message", "client_msg_id": "u3", "file_id": "A" * 43,
                        "payload": "v1:nav:menu:"})  # fmt: skip
        assert (await recv(ws))["code"] == "bad_frame"
        got = await server.http.get(
            "/api/v1/webchat/files/" + "B" * 43,
            headers={"X-Visitor-Token": started["visitor_token"]},
        )
        assert got.status_code == 404
        assert await _count(server, ConversationMessage) == 0


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 32, "photo.png"),  # a Windows program
        (b"<svg onload=alert(1)>" + b"\x00", "cat.svg"),
        (b"PK\x03\x04" + b"\x00" * 40, "doc.pdf"),  # a zip under a PDF's name
    ],
)
async def test_a_type_other_than_the_allowed_ones_is_refused(chat_server, data, name):
    async with chat_server() as server:
        started = await server.session()
        refused = await _upload(server, started["visitor_token"], data, name)
        assert refused.status_code == 415 and refused.json()["error"] == "file_type_not_allowed"
        assert await _count(server, WebchatFile) == 0


async def test_an_oversize_file_is_refused(chat_server):
    async with chat_server(webchat_max_file_bytes=2048) as server:
        started = await server.session()
        just = await _upload(server, started["visitor_token"], PNG + b"\x00" * (2048 - len(PNG)))
        assert just.status_code == 201, just.text
        refused = await _upload(server, started["visitor_token"], PNG + b"\x00" * 2048)
        assert refused.status_code == 413 and refused.json()["error"] == "file_too_large"
        # far beyond: refused by its Content-Length before the body is read
        huge = await _upload(server, started["visitor_token"], PNG + b"\x00" * 200_000)
        assert huge.status_code == 413
        assert await _count(server, WebchatFile) == 1


async def test_uploads_need_a_valid_visitor_token_and_a_file(chat_server):
    async with chat_server() as server:
        started = await server.session()
        for token in (None, "short", "x" * 43 + "!"):
            refused = await _upload(server, token, PNG)
            assert refused.status_code == 401, refused.text
            assert refused.json()["error"] == "visitor_token_invalid"
        no_file = await server.http.post(
            "/api/v1/webchat/files",
            headers={"X-Visitor-Token": started["visitor_token"]},
            files={"other": ("a.png", PNG, "image/png")},
        )
        assert no_file.status_code == 422 and no_file.json()["error"] == "file_missing"
        as_json = await server.http.post(
            "/api/v1/webchat/files",
            headers={"X-Visitor-Token": started["visitor_token"]},
            json={"file": "iVBORw0KGgo="},
        )
        assert as_json.status_code == 422
        empty = await _upload(server, started["visitor_token"], b"", "empty.txt")
        assert empty.status_code == 415
        got = await server.http.get("/api/v1/webchat/files/" + "C" * 43)
        assert got.status_code == 401
        assert await _count(server, WebchatFile) == 0


async def test_uploads_are_rate_limited_per_visitor(chat_server):
    async with chat_server(webchat_uploads_per_minute=2) as server:
        started = await server.session()
        for _ in range(2):
            assert (await _upload(server, started["visitor_token"], PNG)).status_code == 201
        refused = await _upload(server, started["visitor_token"], PNG)
        assert refused.status_code == 429 and refused.json()["error"] == "rate_limited"
        assert "retry-after" in refused.headers
        # another visitor (same address) still may, up to the address's larger limit
        other = await server.session()
        assert (await _upload(server, other["visitor_token"], PNG)).status_code == 201
        assert await _count(server, WebchatFile) == 3


async def test_load_file_finds_a_file_only_in_its_conversation(chat_server, session):
    async with chat_server() as server:
        first = await server.session()
        second = await server.session()
        mine = (await _upload(server, first["visitor_token"], PNG)).json()
        await _upload(server, second["visitor_token"], PNG)
        row = (
            await session.scalars(
                select(WebchatFile).where(WebchatFile.public_id == mine["file_id"])
            )
        ).one()
        found = await files.load_file(session, row.conversation_id, mine["file_id"])
        assert found is not None and found.data == PNG
        other_conversation = (
            await session.scalars(
                select(WebchatFile.conversation_id).where(WebchatFile.public_id != mine["file_id"])
            )
        ).one()
        assert await files.load_file(session, other_conversation, mine["file_id"]) is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        ("Привет, роутер мигает\r\n\tкрасным".encode(), "text/plain; charset=utf-8"),
        (b"<script>alert(1)</script>", "text/plain; charset=utf-8"),  # text, never HTML
        (b"text with a NUL\x00", None),
        (b"\xc3\x28 invalid utf-8", None),
    ],
)
def test_the_type_is_told_by_the_bytes(data, expected):
    found = files.sniff(data)
    assert (found.content_type if found else None) == expected
