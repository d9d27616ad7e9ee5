"""E-mailing a county its report: SMTP with TLS, the password read from a file when sending.

The mail config is its own small YAML file (the roster holds each county's address; the
server and its credential are the central machine's):

    smtp:
      host: smtp.example.edu.cn
      port: 465              # 465: TLS from the start; 587: STARTTLS
      tls: ssl               # ssl | starttls (never plain)
      username: schoolnet-reports@example.edu.cn
      password_file: /etc/schoolnet/secrets/smtp_password
      from: schoolnet-reports@example.edu.cn
      ca_file: /etc/ssl/certs/county-ca.pem   # optional: a private CA
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import yaml

from report.periods import Period
from roster.model import County
from schoolnet_core.config import parsers as p
from schoolnet_core.config.secrets import SecretRef, read_secret
from schoolnet_core.config.walker import SECRET_KEYS, Walk, load_yaml

EXAMPLE = Path(__file__).with_name("example-mail.yaml")
ATTACHED = (".xlsx", ".pdf")


@dataclass(frozen=True)
class MailConfig:
    host: str
    port: int
    tls: str
    username: str | None
    password: SecretRef | None
    sender: str
    ca_file: str | None


def load_mail_config(path: str | Path) -> MailConfig:
    return load_yaml(path, _read, example=EXAMPLE)


def _read(walk: Walk, node: yaml.Node) -> MailConfig:
    return walk.mapping(node, "", ["smtp"]).section("smtp", _smtp, required=True)


def _smtp(walk: Walk, node: yaml.Node | None, path: str) -> MailConfig:
    smtp = walk.mapping(node, path, ["host", "port", "tls", "username", "password_file", "password_env", "from",
                                     "ca_file"], SECRET_KEYS)
    smtp.one_of(["password_file", "password_env"], False, "the password is read from one place")
    password = None
    if smtp.has("password_file") or smtp.has("password_env"):
        password = SecretRef("smtp.password", file=smtp.value("password_file", p.file_path(walk.base_dir), None),
                             env=smtp.value("password_env", p.env_name, None), config_file=walk.file,
                             line=smtp.line_of("password_file" if smtp.has("password_file") else "password_env"))
    return MailConfig(
        host=smtp.value("host", p.host), port=smtp.value("port", p.integer(1, 65535), 465),
        tls=smtp.value("tls", p.choice("ssl", "starttls"), "ssl"), username=smtp.value("username", p.display_name, None),
        password=password, sender=smtp.value("from", p.display_name),
        ca_file=smtp.value("ca_file", p.file_path(walk.base_dir), None),
    )


def message(config: MailConfig, county: County, period: Period, paths: list[Path]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"{county.name} 学校信息化达标监测报告 {period.label} · schoolnet compliance report"
    mail["From"] = config.sender
    mail["To"] = ", ".join(county.contacts.email)
    attached = [path for path in paths if path.suffix in ATTACHED]
    mail.set_content(
        f"{county.name}：附件为 {period.first} 至 {period.last} 的学校信息化达标监测报告（Excel 与 PDF）。\n"
        f"Attached: the compliance report of {county.name} for {period.first} to {period.last} (Excel and PDF).\n\n"
        + "\n".join(path.name for path in attached) + "\n\n— schoolnet\n")
    for path in attached:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        main, sub = kind.split("/", 1)
        mail.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=path.name)
    return mail


def send_report(config: MailConfig, county: County, period: Period, paths: list[Path]) -> None:
    """Sends over TLS only; the password is read now and never logged or put in argv."""
    if not county.contacts.email:
        raise RuntimeError(f"county {county.id} has no e-mail address in the roster; add one to send its report")
    mail = message(config, county, period, paths)
    context = ssl.create_default_context(cafile=config.ca_file)
    try:
        if config.tls == "ssl":
            client = smtplib.SMTP_SSL(config.host, config.port, context=context, timeout=60)
        else:
            client = smtplib.SMTP(config.host, config.port, timeout=60)
            client.starttls(context=context)
        with client:
            if config.username and config.password:
                client.login(config.username, read_secret(config.password).reveal())
            client.send_message(mail)
    except (smtplib.SMTPException, ssl.SSLError, OSError) as error:
        raise RuntimeError(f"mail to {county.id} via {config.host}:{config.port} failed: {error}") from None
