"""The e-mail channel through aiosmtplib against a real SMTP server (aiosmtpd) on 127.0.0.1:
plain, STARTTLS with AUTH, and TLS from the start, with a self-signed certificate made here."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from structlog.testing import capture_logs

from backend.customers.unsubscribe import token_matches
from notifications.channels import (
    LogEmailChannel,
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
)
from notifications.email import SmtpEmailChannel, email_channel
from tests.conftest import make_settings
from tests.support.net import free_port

CODE = "482913"
TEXT = f"Код для восстановления пароля: {CODE}\nНикому не сообщайте код."
SUBJECT = "Восстановление пароля"
USER, PASSWORD = "mailer", "s3cret-smtp-password"


def _message(
    to: str = "ivan@example.com", *, marketing: bool = False, customer_id: int | None = 42, **kw
) -> Rendered:
    values: dict[str, Any] = {
        "outbox_id": 7,
        "kind": "broadcast.marketing" if marketing else "auth.password_reset_code",
        "channel": "email",
        "to": to,
        "locale": "ru",
        "text": TEXT,
        "subject": SUBJECT,
        "payload": {"marketing": True} if marketing else {},
        "customer_id": customer_id,
    }
    values.update(kw)
    return Rendered(**values)


# --- a real SMTP server ------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    authenticated: bool | None
    tls: bool

    @property
    def email(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def body(self) -> str:
        """The decoded text, with the wire's CRLF line ends as LF."""
        return str(self.email.get_content()).replace("\r\n", "\n")


class Mailbox:
    """aiosmtpd handler: keeps what arrives; `refuse` answers RCPT for an address."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content or envelope.content,
                session.authenticated,
                server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data == (
        USER.encode(),
        PASSWORD.encode(),
    )
    # handled=False: the server answers the failure (235 / 535) itself
    return AuthResult(success=ok, handled=False)


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provider-desk test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("smtp-cert")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(folder / "cert.pem", folder / "key.pem")


def _serve(mailbox: Mailbox, **kwargs: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def plain_port(mailbox: Mailbox) -> Iterator[int]:
    """No TLS, no AUTH: a local relay."""
    yield from _serve(mailbox)


@pytest.fixture
def starttls_port(mailbox: Mailbox, certificate: Certificate) -> Iterator[int]:
    """STARTTLS required, then AUTH required (port 587 as providers run it)."""
    yield from _serve(
        mailbox,
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=_authenticator,
        auth_required=True,
    )


@pytest.fixture
def tls_port(mailbox: Mailbox, certificate: Certificate) -> Iterator[int]:
    """TLS from the first byte (port 465), with AUTH. aiosmtpd counts only STARTTLS as TLS
    for `auth_require_tls`, so here AUTH is offered without that check (and not required:
    requiring it without the check makes aiosmtpd warn); the test asserts it happened."""
    yield from _serve(
        mailbox,
        ssl_context=certificate.server_context(),
        authenticator=_authenticator,
        auth_require_tls=False,
    )


def _settings(port: int, **overrides: object):
    values: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_tls": "none",
        "smtp_from": "Провайдер <noreply@provider.example>",
        "public_url": "https://desk.provider.example",
    }
    values.update(overrides)
    return make_settings(**values)


# --- plain delivery ------------------------------------------------------------------------


async def test_a_notice_arrives_with_its_headers_and_a_utf8_russian_body(plain_port, mailbox):
    channel = SmtpEmailChannel(_settings(plain_port))
    with capture_logs() as logs:
        await channel.send(_message())
    [got] = mailbox.received
    assert got.mail_from == "noreply@provider.example"
    assert got.rcpt_tos == ["ivan@example.com"]
    assert not got.tls
    email = got.email
    assert str(email["From"]) == "Провайдер <noreply@provider.example>"
    assert str(email["To"]) == "ivan@example.com"
    assert str(email["Subject"]) == SUBJECT
    assert email["Date"] and email["Message-ID"].endswith("@provider.example>")
    assert email["Auto-Submitted"] == "auto-generated"
    assert email.get_content_type() == "text/plain"
    assert email.get_content_charset() == "utf-8"
    assert got.body == TEXT + "\n"
    # a transactional notice has no unsubscribe machinery
    assert "List-Unsubscribe" not in email
    assert "List-Unsubscribe-Post" not in email
    # the log names the kind and the recipient, never the text or the subject
    assert CODE not in repr(logs) and SUBJECT not in repr(logs)
    [sent] = logs
    assert (sent["event"], sent["kind"], sent["to"]) == (
        "email sent",
        "auth.password_reset_code",
        "ivan@example.com",
    )


async def test_a_notice_without_a_subject_gets_the_localized_default(plain_port, mailbox):
    channel = SmtpEmailChannel(_settings(plain_port, provider_legal_name="ООО «Связь»"))
    await channel.send(_message(subject=None))
    await channel.send(_message(subject=None, locale="en"))
    subjects = [str(r.email["Subject"]) for r in mailbox.received]
    assert subjects == ["Уведомление от ООО «Связь»", "A notice from ООО «Связь»"]


async def test_marketing_carries_a_one_click_unsubscribe_header_and_link(plain_port, mailbox):
    settings = _settings(plain_port)
    await SmtpEmailChannel(settings).send(_message(marketing=True, customer_id=42))
    email = mailbox.received[0].email
    header = str(email["List-Unsubscribe"])
    assert header.startswith("<https://desk.provider.example/api/v1/unsubscribe?")
    assert header.endswith(">")
    url = header[1:-1]
    query = parse_qs(urlsplit(url).query)
    assert query["c"] == ["42"]
    assert token_matches(settings, 42, query["t"][0])
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = mailbox.received[0].body
    assert body.startswith(TEXT)
    assert body.rstrip().endswith(f"Отписаться: {url}")
    # `marketing` must be exactly true, as broadcasts set it
    mailbox.received.clear()
    await SmtpEmailChannel(settings).send(_message(payload={"marketing": "yes"}))
    assert "List-Unsubscribe" not in mailbox.received[0].email


async def test_marketing_without_a_customer_is_not_sent(plain_port, mailbox):
    with pytest.raises(PermanentDeliveryError, match="unsubscribe"):
        await SmtpEmailChannel(_settings(plain_port)).send(
            _message(marketing=True, customer_id=None)
        )
    assert mailbox.received == []


async def test_internationalised_addresses(plain_port, mailbox):
    channel = SmtpEmailChannel(_settings(plain_port))
    await channel.send(_message("ivan@пример.рф"))  # the domain travels as IDNA
    await channel.send(_message("иван@пример.рф"))  # the local part needs SMTPUTF8
    assert [r.rcpt_tos for r in mailbox.received] == [
        ["ivan@xn--e1afmkfd.xn--p1ai"],
        ["иван@xn--e1afmkfd.xn--p1ai"],
    ]


async def test_a_non_ascii_mailbox_without_smtputf8_is_unreachable(mailbox):
    for port in _serve(mailbox, enable_SMTPUTF8=False):
        channel = SmtpEmailChannel(_settings(port))
        with pytest.raises(UnreachableError, match="non-ASCII"):
            await channel.send(_message("иван@пример.рф"))
    assert mailbox.received == []


# --- failures ---------------------------------------------------------------------------


async def test_a_refused_mailbox_is_unreachable(plain_port, mailbox):
    mailbox.refuse["gone@example.com"] = "550 5.1.1 No such user here"
    with capture_logs() as logs, pytest.raises(UnreachableError, match="550"):
        await SmtpEmailChannel(_settings(plain_port)).send(_message("gone@example.com"))
    assert mailbox.received == []
    assert CODE not in repr(logs)
    assert logs[-1]["to"] == "gone@example.com"


async def test_a_deferred_mailbox_is_temporary(plain_port, mailbox):
    mailbox.refuse["busy@example.com"] = "450 4.2.1 Mailbox busy, try later"
    with pytest.raises(TemporaryDeliveryError, match="450"):
        await SmtpEmailChannel(_settings(plain_port)).send(_message("busy@example.com"))


async def test_an_invalid_address_is_unreachable_without_a_connection(plain_port, mailbox):
    channel = SmtpEmailChannel(_settings(plain_port))
    for bad in ("not-an-address", "ivan@", "a b@example.com", "ivan@example.com\r\nBcc: x@y.z"):
        with pytest.raises(UnreachableError, match="invalid email address"):
            await channel.send(_message(bad))
    assert mailbox.received == []


async def test_a_server_that_is_down_is_temporary():
    channel = SmtpEmailChannel(_settings(free_port()), timeout=5)
    with capture_logs() as logs, pytest.raises(TemporaryDeliveryError, match="unavailable"):
        await channel.send(_message())
    assert CODE not in repr(logs)


# --- TLS and AUTH ---------------------------------------------------------------------------


async def test_starttls_then_auth(starttls_port, mailbox, certificate):
    settings = _settings(starttls_port, smtp_tls="starttls", smtp_user=USER, smtp_password=PASSWORD)
    channel = SmtpEmailChannel(settings, tls_context=certificate.client_context())
    await channel.send(_message())
    [got] = mailbox.received
    assert got.tls and got.authenticated
    assert got.body == TEXT + "\n"


async def test_a_wrong_password_is_temporary_and_an_error_in_the_log(
    starttls_port, mailbox, certificate
):
    settings = _settings(starttls_port, smtp_tls="starttls", smtp_user=USER, smtp_password="nope")
    channel = SmtpEmailChannel(settings, tls_context=certificate.client_context())
    with capture_logs() as logs, pytest.raises(TemporaryDeliveryError, match="authentication"):
        await channel.send(_message())
    assert mailbox.received == []
    assert any(e["log_level"] == "error" for e in logs)
    assert "nope" not in repr(logs) and CODE not in repr(logs)


async def test_starttls_is_required_not_hoped_for(plain_port, mailbox):
    # SMTP_TLS=starttls against a server that does not offer it: nothing goes in clear text
    settings = _settings(plain_port, smtp_tls="starttls", smtp_user=USER, smtp_password=PASSWORD)
    with capture_logs() as logs, pytest.raises(TemporaryDeliveryError):
        await SmtpEmailChannel(settings).send(_message())
    assert mailbox.received == []
    assert any(e["log_level"] == "error" for e in logs)


async def test_an_untrusted_certificate_is_refused(starttls_port, mailbox):
    settings = _settings(starttls_port, smtp_tls="starttls", smtp_user=USER, smtp_password=PASSWORD)
    with capture_logs() as logs, pytest.raises(TemporaryDeliveryError):
        await SmtpEmailChannel(settings).send(_message())  # the system trust store
    assert mailbox.received == []
    assert any(e["event"] == "smtp server certificate not trusted" for e in logs)


async def test_tls_from_the_start(tls_port, mailbox, certificate):
    settings = _settings(tls_port, smtp_tls="tls", smtp_user=USER, smtp_password=PASSWORD)
    channel = SmtpEmailChannel(settings, tls_context=certificate.client_context())
    await channel.send(_message(marketing=True))
    [got] = mailbox.received
    assert got.tls and got.authenticated
    assert "List-Unsubscribe" in got.email


# --- which channel ---------------------------------------------------------------------------


async def test_without_smtp_host_development_writes_files_under_dev_mail(tmp_path):
    settings = make_settings(app_env="development", data_dir=tmp_path)
    channel = email_channel(settings)
    assert isinstance(channel, LogEmailChannel)
    with capture_logs() as logs:
        await channel.send(_message())
    [file] = (tmp_path / "dev-mail").iterdir()
    content = file.read_text(encoding="utf-8")
    assert "To: ivan@example.com" in content and TEXT in content
    assert CODE not in repr(logs)


def test_smtp_host_gives_smtp_and_production_without_it_has_no_email():
    assert isinstance(email_channel(_settings(25)), SmtpEmailChannel)
    production = make_settings(
        app_env="production", secret_key="x" * 40, payment_provider="yookassa"
    )
    assert email_channel(production) is None
    assert isinstance(
        email_channel(production.model_copy(update={"smtp_host": "smtp.example"})),
        SmtpEmailChannel,
    )
