"""E-mail notices over SMTP (aiosmtplib), and which e-mail channel this setup has:
`email_channel(settings)` gives SMTP when SMTP_HOST is set; without it, outside production the
stand-in that writes whole messages under DATA_DIR/dev-mail, and in production none (e-mail is
off, and a notice for it is dead-lettered with the reason).

A notice is one text/plain UTF-8 message. A marketing one (payload "marketing": true, set by
broadcasts) also carries the customer's unsubscribe link at the end of the body and in the
List-Unsubscribe header with RFC 8058's one-click List-Unsubscribe-Post (large mailbox
providers require both from bulk senders; RFC 8058 also wants the message DKIM-signed over
these headers, which is the relay's job). The log gets the kind and the recipient,
never the text."""

from __future__ import annotations

import asyncio
import ssl
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from backend.config import Settings
from backend.customers.unsubscribe import unsubscribe_url
from backend.i18n import t
from backend.logging import get_logger
from notifications.channels import (
    Channel,
    DeliveryError,
    LogEmailChannel,
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
    dev_mail_dir,
)

log = get_logger("notifications.email")

# Each send is its own SMTP session; servers limit connections per client (often to 5-10)
# and refuse or tarpit the ones beyond, so a burst of notices waits here instead.
DEFAULT_MAX_CONNECTIONS = 4
DEFAULT_TIMEOUT = 30.0


def _provider(settings: Settings) -> str:
    return settings.provider_legal_name or settings.app_name


def _one_line(value: str) -> str:
    # a line break in a header is header injection (and EmailMessage refuses it)
    return " ".join(value.split())


def compose(settings: Settings, message: Rendered, to: str) -> EmailMessage:
    """The e-mail of a rendered notice for the mailbox `to`. Marketing needs the customer
    (PermanentDeliveryError without one): every marketing e-mail carries an unsubscribe link."""
    provider = _provider(settings)
    subject = message.subject or t(
        "notifications-email-subject-default", message.locale, provider=provider
    )
    body = message.text.rstrip("\n") + "\n"
    email = EmailMessage(policy=policy.SMTP)
    email["From"] = settings.smtp_from
    email["To"] = to
    email["Subject"] = _one_line(subject)
    email["Date"] = formatdate(usegmt=True)
    # an explicit domain: without one make_msgid asks DNS for this host's name, blocking
    email["Message-ID"] = make_msgid(f"outbox{message.outbox_id}", _sender_domain(settings))
    # RFC 3834: a notice is machine-made, so vacation responders do not answer it.
    email["Auto-Submitted"] = "auto-generated"
    if message.payload.get("marketing") is True:
        if message.customer_id is None:
            raise PermanentDeliveryError("a marketing e-mail needs a customer (unsubscribe link)")
        url = unsubscribe_url(settings, message.customer_id, message.locale)
        email["List-Unsubscribe"] = f"<{url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        footer = t(
            "notifications-email-unsubscribe-footer", message.locale, provider=provider, url=url
        )
        body += "\n-- \n" + footer.rstrip("\n") + "\n"
    email.set_content(body, subtype="plain", charset="utf-8")
    return email


def _sender_domain(settings: Settings) -> str:
    return parseaddr(settings.smtp_from)[1].rpartition("@")[2] or "localhost"


def _recipient(raw: str) -> tuple[str, bool]:
    """The mailbox to send to and whether it needs SMTPUTF8 (a non-ASCII local part); an
    internationalised domain travels as its ASCII (IDNA) form."""
    try:
        valid = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        raise UnreachableError("invalid email address") from None
    if valid.ascii_email:
        return valid.ascii_email, False
    return str(Address(username=valid.local_part, domain=valid.ascii_domain)), True


class SmtpEmailChannel:
    """Sends each notice in its own SMTP session to SMTP_HOST:SMTP_PORT: TLS from the start
    (SMTP_TLS=tls), STARTTLS required (starttls) or none; AUTH when SMTP_USER is set.
    `tls_context` replaces the system's trust store (tests trust their own certificate)."""

    def __init__(
        self,
        settings: Settings,
        *,
        tls_context: ssl.SSLContext | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not settings.smtp_host:
            raise ValueError("SMTP_HOST is not set")
        self.settings = settings
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.username = settings.smtp_user or None
        self.password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        self.tls = settings.smtp_tls
        self.tls_context = tls_context
        self.timeout = timeout
        self._slots = asyncio.Semaphore(max_connections)

    async def send(self, message: Rendered) -> None:
        to, needs_smtputf8 = _recipient(message.to)
        email = compose(self.settings, message, to)
        try:
            async with self._slots:
                await aiosmtplib.send(
                    email,
                    hostname=self.host,
                    port=self.port,
                    username=self.username,
                    password=self.password if self.username else None,
                    use_tls=self.tls == "tls",
                    # True: STARTTLS or fail; a server that stops offering it (or a stripping
                    # middlebox) must not get the password and the message in clear text.
                    start_tls=self.tls == "starttls",
                    tls_context=self.tls_context,
                    timeout=self.timeout,
                )
        except (aiosmtplib.SMTPException, OSError) as exc:
            error = self._classify(exc, needs_smtputf8)
            log.warning(
                "email not sent",
                outbox_id=message.outbox_id,
                kind=message.kind,
                to=to,
                error=type(error).__name__,
                reason=str(error),
            )
            raise error from None
        log.info("email sent", outbox_id=message.outbox_id, kind=message.kind, to=to)

    def _classify(self, exc: Exception, needs_smtputf8: bool) -> DeliveryError:
        """An aiosmtplib failure as the worker's error. The server's replies name the stage
        and the reason, never the body, so they may go into last_error."""
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
            return _refused([r.code for r in exc.recipients], exc.recipients)
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            return _refused([exc.code], [exc])
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPSenderRefused):
            # SMTP_USER/SMTP_PASSWORD or SMTP_FROM are wrong: every message fails until an
            # operator fixes them, so it is an error in the log, and the notice waits.
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                stage = "authentication"
            else:
                stage = "sender"
            log.error(
                f"smtp {stage} refused: check the SMTP settings", host=self.host, code=exc.code
            )
            return TemporaryDeliveryError(f"SMTP {stage} refused: {exc.code} {_short(exc)}")
        if isinstance(exc, aiosmtplib.SMTPDataError):
            if exc.code >= 500:  # the content was refused (size, policy): resending cannot help
                return PermanentDeliveryError(f"SMTP server refused the message: {exc.code}")
            return TemporaryDeliveryError(f"SMTP server deferred the message: {exc.code}")
        if isinstance(exc, aiosmtplib.SMTPNotSupported):
            if needs_smtputf8:
                return UnreachableError("the SMTP server cannot send to a non-ASCII mailbox")
            # STARTTLS or AUTH required by the settings but not offered by the server
            log.error("smtp server lacks a required extension", host=self.host, reason=str(exc))
            return TemporaryDeliveryError(f"SMTP server lacks an extension: {_short(exc)}")
        if type(exc) is aiosmtplib.SMTPException:
            # aiosmtplib's plain SMTPException: the server lacks what the settings require
            # (STARTTLS for SMTP_TLS=starttls, AUTH for SMTP_USER); nothing was sent
            log.error("smtp server does not offer what the settings require", reason=str(exc))
            return TemporaryDeliveryError(f"SMTP: {_short(exc)}")
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return TemporaryDeliveryError(f"SMTP error: {exc.code} {_short(exc)}")
        if isinstance(exc.__cause__, ssl.SSLCertVerificationError) or isinstance(
            exc, ssl.SSLCertVerificationError
        ):
            log.error("smtp server certificate not trusted", host=self.host, port=self.port)
        # timeouts, disconnects, refused connections, TLS failures
        return TemporaryDeliveryError(f"SMTP server unavailable: {type(exc).__name__}")


def _short(exc: aiosmtplib.SMTPException) -> str:
    return " ".join(str(exc.message).split())[:200]


def _refused(codes: list[int], errors: list[aiosmtplib.SMTPRecipientRefused]) -> DeliveryError:
    detail = "; ".join(f"{e.code} {_short(e)}" for e in errors)
    if codes and all(code >= 500 for code in codes):
        # 550 no such user, 551/553 mailbox not allowed, 552 over quota (RFC 5321: permanent)
        return UnreachableError(f"mailbox refused: {detail}")
    return TemporaryDeliveryError(f"mailbox deferred: {detail}")


def email_channel(settings: Settings) -> Channel | None:
    """The e-mail channel of this setup: SMTP when SMTP_HOST is set; else outside production
    the stand-in writing to DATA_DIR/dev-mail; in production None (e-mail off)."""
    if settings.smtp_host:
        return SmtpEmailChannel(settings)
    if settings.app_env != "production":
        return LogEmailChannel(dev_mail_dir(settings))
    return None
