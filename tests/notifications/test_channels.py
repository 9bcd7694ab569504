"""The embedded email and SMS channels: the log gets the kind and the recipient only; the full
message goes to a file under DATA_DIR/dev-mail outside production; production has no stand-in."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from backend.config import Settings
from backend.outbox import recovery_channels
from notifications import channels as ch
from notifications.channels import Rendered
from notifications.registry import default_channels
from notifications.worker import deliver_once
from tests.conftest import make_settings
from tests.factories import make_customer
from tests.notifications.helpers import rows

CODE = "482913"


def _message(channel: str, to: str) -> Rendered:
    return Rendered(
        outbox_id=7,
        kind="auth.password_reset_code",
        channel=channel,
        to=to,
        locale="ru",
        text=f"Код для восстановления пароля: {CODE}",
        subject="Восстановление пароля",
    )


def _dev_settings(tmp_path: Path) -> Settings:
    return make_settings(app_env="development", data_dir=tmp_path)


async def test_log_lines_hold_the_kind_and_recipient_never_the_text(tmp_path):
    channels = default_channels(_dev_settings(tmp_path))
    with capture_logs() as logs:
        await channels["email"].send(_message("email", "ivan@example.com"))
        await channels["sms"].send(_message("sms", "8 (900) 000-00-01"))
    assert len(logs) == 2
    assert CODE not in repr(logs)
    assert "Восстановление" not in repr(logs)
    assert [(e["kind"], e["to"]) for e in logs] == [
        ("auth.password_reset_code", "ivan@example.com"),
        ("auth.password_reset_code", "+79000000001"),
    ]


async def test_development_writes_the_full_message_under_data_dir_dev_mail(tmp_path):
    settings = _dev_settings(tmp_path)
    assert ch.dev_mail_dir(settings) == tmp_path / "dev-mail"
    await default_channels(settings)["email"].send(_message("email", "ivan@example.com"))
    await default_channels(settings)["sms"].send(_message("sms", "+79000000001"))
    files = sorted(ch.dev_mail_dir(settings).iterdir())
    assert len(files) == 2
    email = next(f.read_text(encoding="utf-8") for f in files if f.name.endswith("-email.txt"))
    assert "To: ivan@example.com" in email
    assert "Subject: Восстановление пароля" in email
    assert CODE in email
    sms = next(f.read_text(encoding="utf-8") for f in files if f.name.endswith("-sms.txt"))
    assert "To: +79000000001" in sms and CODE in sms


def test_production_has_no_stand_in_email_or_sms(settings):
    production = settings.model_copy(update={"app_env": "production"})
    assert "email" not in default_channels(production)
    assert "sms" not in default_channels(production)
    assert recovery_channels(production) == frozenset()
    assert recovery_channels(settings) == frozenset({"email", "sms"})


async def test_demo_reset_reads_the_code_from_dev_mail(client, resources, session):
    await make_customer(session, email="olga@example.com")
    await session.commit()
    r = await client.post("/api/v1/auth/password/forgot", json={"login": "olga@example.com"})
    assert r.status_code == 202
    mailbox = ch.dev_mail_dir(resources.settings)
    before = set(mailbox.iterdir()) if mailbox.exists() else set()
    with capture_logs() as logs:
        assert await deliver_once(resources, default_channels(resources.settings)) == 1
    [new] = set(mailbox.iterdir()) - before
    text = new.read_text(encoding="utf-8")
    assert "To: olga@example.com" in text
    code = next(w for w in text.replace(".", " ").split() if w.isdigit() and len(w) == 6)
    assert code not in repr(logs)  # the log never carries the code
    [row] = await rows(session)
    assert code not in str(row.payload)  # nor does the outbox row once sent
    ok = await client.post(
        "/api/v1/auth/password/reset",
        json={"login": "olga@example.com", "code": code, "new_password": "brand-new-password"},
    )
    assert ok.status_code == 204, ok.text


def test_production_recovers_passwords_through_the_configured_senders(settings):
    from pydantic import SecretStr

    production = settings.model_copy(update={"app_env": "production"})
    mail = production.model_copy(update={"smtp_host": "smtp.example.net"})
    assert recovery_channels(mail) == frozenset({"email"})
    sms = production.model_copy(update={"sms_provider": "smsru", "sms_api_key": SecretStr("k")})
    assert recovery_channels(sms) == frozenset({"sms"})
    no_codes = sms.model_copy(update={"sms_kinds": ["outage.started"]})
    assert recovery_channels(no_codes) == frozenset()
    assert type(default_channels(mail)["email"]).__name__ == "SmtpEmailChannel"
