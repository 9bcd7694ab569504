"""A local stand-in of Firebase Cloud Messaging's HTTP v1 API
(https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send) and of Google's
OAuth token endpoint, for tests and benchmarks of the push channel (notifications/push.py).

The real firebase-admin talks to it: `write_key()` writes a throwaway service-account key file
(a fresh RSA 2048 key) whose `token_uri` is `{base}/token`, and FCM_API_BASE is `base_url`.

- `POST {base}/token`: google-auth's jwt-bearer grant. The assertion must be an RS256 JWT signed
  by a key this stand-in wrote, for a token endpoint (aud), asking for a cloud-platform or
  firebase.messaging scope; the answer is a bearer access token valid for an hour.
- `POST {base}/v1/projects/{project}/messages:send`: needs one of those bearer tokens (401
  otherwise), a known project, and a message with exactly one target (`token`, `fid`, `topic`
  or `condition`) and string data values (400 otherwise). Answers `{"name": ...}` and records
  the message (`sent`, or only `sent_count` with `record=False`, for benchmarks).

Faults come back with FCM's error bodies (an `FcmError` detail with its errorCode), which
firebase-admin maps to its exceptions: device tokens in `unregistered` (404 UNREGISTERED),
`sender_mismatch` (403 SENDER_ID_MISMATCH) or `invalid` (400 INVALID_ARGUMENT about
message.token), and the next sends after `quota_exceeded_next(n)` (429 QUOTA_EXCEEDED),
`unavailable_next(n)` (503 UNAVAILABLE) or `fail_next(n, status, code)`.

`python -m tests.support.fcm_standin KEY_FILE [--port N] [--no-record]` serves it as a process of
its own (for benchmarks: the sender then has a CPU to itself): it writes a key to KEY_FILE,
prints the base URL, and counts what it got at `GET {base}/_standin/stats`.

The server runs on its own thread and event loop (`start()` / `stop()`, or `with`): google-auth
fetches tokens with blocking `requests` calls, which would deadlock against a server sharing the
caller's event loop."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

JSON = dict[str, Any]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth addresses the assertion to Google's token endpoint whatever the key's token_uri.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
MESSAGING_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/cloud-platform",
        "https://www.googleapis.com/auth/firebase.messaging",
    }
)
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_TARGETS = ("token", "fid", "topic", "condition")
# google.rpc status names by HTTP status, as FCM pairs them.
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class SentMessage:
    project: str
    # ("token" | "fid" | "topic" | "condition", value)
    target: tuple[str, str]
    message: JSON
    validate_only: bool


@dataclass(frozen=True)
class _Fault:
    status: int
    code: str
    retry_after: int | None


@dataclass(frozen=True)
class _Key:
    client_email: str
    project: str
    public_key: PublicKeyTypes


def fcm_error(status: int, code: str | None, message: str, *extra_details: JSON) -> JSON:
    """FCM's error body: a google.rpc.Status with an FcmError detail carrying the errorCode."""
    details: list[JSON] = [{"@type": _FCM_ERROR, "errorCode": code}] if code else []
    details.extend(extra_details)
    error: JSON = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return {"error": error}


class FcmStandin:
    def __init__(self, project: str = "demo-isp", *, record: bool = True) -> None:
        self.project = project
        self.record = record
        self.sent: list[SentMessage] = []
        self.sent_count = 0
        # Every messages:send request, answered or refused.
        self.requests = 0
        self.token_requests = 0
        self.unregistered: set[str] = set()
        self.sender_mismatch: set[str] = set()
        self.invalid: set[str] = set()
        self._faults: deque[_Fault] = deque()
        self._keys: dict[str, _Key] = {}  # private_key_id -> the key's public half
        self._access_tokens: set[str] = set()
        self._token_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._key_ids = itertools.count(1)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # --- lifecycle -----------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        app.router.add_get("/_standin/stats", self._stats)
        return app

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._open(host, port))
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._close())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fcm-standin", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self.base_url

    async def _open(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.build_app(), shutdown_timeout=1, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.base_url = f"http://{bound[0]}:{bound[1]}"

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = self._thread = None

    def __enter__(self) -> FcmStandin:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- keys ------------------------------------------------------------------------------

    def service_account(self, project: str | None = None) -> JSON:
        """A throwaway service-account key (the JSON a Firebase console hands out) for
        `project` (default: this stand-in's), whose token_uri points here. Call after start()."""
        assert self.base_url, "start the stand-in first: the key's token_uri points at it"
        project = project or self.project
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_id = f"standin-key-{next(self._key_ids)}"
        email = f"firebase-adminsdk@{project}.iam.gserviceaccount.com"
        self._keys[key_id] = _Key(email, project, key.public_key())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": "100000000000000000001",
            "auth_uri": f"{self.base_url}/auth",
            "token_uri": f"{self.base_url}/token",
            "auth_provider_x509_cert_url": f"{self.base_url}/certs",
            "client_x509_cert_url": f"{self.base_url}/certs/{key_id}",
            "universe_domain": "googleapis.com",
        }

    def write_key(self, path: Path, project: str | None = None) -> Path:
        """Write `service_account(project)` to `path` (readable by the owner only)."""
        path.write_text(json.dumps(self.service_account(project)), encoding="utf-8")
        path.chmod(0o600)
        return path

    def revoke_tokens(self) -> None:
        """Forget every access token issued: the next send answers 401 until a new one."""
        with self._lock:
            self._access_tokens.clear()

    # --- faults ----------------------------------------------------------------------------

    def fail_next(self, n: int, status: int, code: str, retry_after: int | None = None) -> None:
        """The next `n` sends answer `status` with FCM errorCode `code` (and a Retry-After)."""
        self._faults.extend(_Fault(status, code, retry_after) for _ in range(n))

    def quota_exceeded_next(self, n: int = 1, retry_after: int | None = None) -> None:
        self.fail_next(n, 429, "QUOTA_EXCEEDED", retry_after)

    def unavailable_next(self, n: int = 1, retry_after: int | None = None) -> None:
        self.fail_next(n, 503, "UNAVAILABLE", retry_after)

    def reset(self) -> None:
        """Forget what was sent and every fault (keys and access tokens stay valid)."""
        self.sent.clear()
        self.sent_count = 0
        self.unregistered.clear()
        self.sender_mismatch.clear()
        self.invalid.clear()
        self._faults.clear()

    def targets(self) -> list[str]:
        """The token or fid of every message recorded, in order of arrival."""
        return [s.target[1] for s in self.sent]

    # --- handlers --------------------------------------------------------------------------

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "sent": self.sent_count,
                "requests": self.requests,
                "token_requests": self.token_requests,
            }
        )

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        if form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", "Invalid grant_type.")
        assertion = form.get("assertion")
        if not isinstance(assertion, str):
            return _oauth_error("invalid_request", "Missing required parameter: assertion")
        try:
            key_id = jwt.get_unverified_header(assertion).get("kid")
            key = self._keys[str(key_id)]
            claims = jwt.decode(
                assertion,
                key.public_key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=[f"{self.base_url}/token", GOOGLE_TOKEN_URI],
                issuer=key.client_email,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except (KeyError, jwt.InvalidTokenError):
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        if not MESSAGING_SCOPES & set(str(claims.get("scope", "")).split()):
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience.")
        token = f"ya29.standin-{next(self._token_ids)}-{key.project}"
        with self._lock:
            self._access_tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
        )

    async def _send(self, request: web.Request) -> web.Response:
        self.requests += 1
        project = request.match_info["project"]
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        with self._lock:
            known = scheme.lower() == "bearer" and token in self._access_tokens
        if not known:
            message = "Request had invalid authentication credentials."
            return _json(401, fcm_error(401, None, message))
        if not token.endswith(f"-{project}"):
            message = "Permission 'cloudmessaging.messages.create' denied on resource."
            return _json(403, fcm_error(403, None, message))
        if not any(k.project == project for k in self._keys.values()):
            return _json(404, fcm_error(404, None, "Requested entity was not found."))
        try:
            body = json.loads(await request.read())
            message = body["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, TypeError):
            return _json(400, fcm_error(400, None, "Invalid JSON payload received."))
        targets = [(name, message[name]) for name in _TARGETS if name in message]
        if len(targets) != 1 or not isinstance(targets[0][1], str) or not targets[0][1]:
            return _invalid("message", "Exactly one of token, fid, topic or condition is required")
        data = message.get("data", {})
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return _invalid("message.data", "Invalid value: data values must be strings")
        target = targets[0]
        if self._faults:
            try:
                fault = self._faults.popleft()
            except IndexError:
                pass
            else:
                return _fault(fault)
        if target[1] in self.unregistered:
            return _json(404, fcm_error(404, "UNREGISTERED", "Requested entity was not found."))
        if target[1] in self.sender_mismatch:
            return _json(403, fcm_error(403, "SENDER_ID_MISMATCH", "SenderId mismatch"))
        if target[1] in self.invalid:
            return _invalid(
                f"message.{target[0]}",
                "The registration token is not a valid FCM registration token",
            )
        self.sent_count += 1
        if self.record:
            self.sent.append(SentMessage(project, target, message, bool(body.get("validate_only"))))
        name = f"projects/{project}/messages/{next(self._message_ids)}"
        return web.json_response({"name": name})


def _json(status: int, body: JSON, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _invalid(field: str, description: str) -> web.Response:
    violation = {
        "@type": _BAD_REQUEST,
        "fieldViolations": [{"field": field, "description": description}],
    }
    return _json(400, fcm_error(400, "INVALID_ARGUMENT", description, violation))


def _fault(fault: _Fault) -> web.Response:
    headers = None if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    messages = {
        "QUOTA_EXCEEDED": "Quota exceeded for quota metric 'Send messages'.",
        "UNAVAILABLE": "The service is currently unavailable.",
        "INTERNAL": "Internal error encountered.",
        "THIRD_PARTY_AUTH_ERROR": "Auth error from APNS or Web Push Service",
    }
    body = fcm_error(fault.status, fault.code, messages.get(fault.code, fault.code))
    return _json(fault.status, body, headers)


def _oauth_error(error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=400)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="A local stand-in of FCM's HTTP v1 API.")
    parser.add_argument("key_file", type=Path, help="where to write the service-account key")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--project", default="demo-isp")
    parser.add_argument("--no-record", action="store_true", help="count messages, keep none")
    args = parser.parse_args()
    standin = FcmStandin(args.project, record=not args.no_record)
    base_url = standin.start(args.host, args.port)
    standin.write_key(args.key_file)
    print(base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
