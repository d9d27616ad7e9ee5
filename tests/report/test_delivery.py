"""Delivery: the timer's units pass systemd-analyze, and schoolnet-report --mail sends each
county its report over STARTTLS with a password from a file, to an SMTP sink started here."""

from __future__ import annotations

import email
import email.policy
import socketserver
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import openpyxl
import pytest

from report import cli
from schoolnet_stack.requirements import require_binary

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy/central/systemd"
ROSTER_YAML = """\
counties:
  - id: hx
    name: 华县
    email: [dianjiao@hx.example.cn, kejiguan@hx.example.cn]
settings:
  school_hours: 08:00-17:00
  holidays: [2026-10-01..2026-10-07]
  extra_school_days: [2026-10-10]
  target_by_type: {高中: 500, 完全中学: 500}
  maintenance:
    - {start: 2026-10-14 12:00, end: 2026-10-14 14:00, county: hx, reason: 城域网割接}
  report: {broadband_interval_s: 300, classroom_interval_s: 600, sync_interval_s: 60}
schools:
  - {county: hx, id: hx-dazhuang-zx, name: 大庄中学, type: 初中, rural: false, enrolment: 820, contracted_mbps: 200,
     classrooms: [{id: c1, name: 一年级(1)班, devices: [{id: interactive_panel, kind: interactive_panel,
                  host: 10.0.0.2, check: "tcp:80"}]}]}
  - {county: hx, id: hx-gone-xx, name: 撤并小学, type: 小学, rural: true}
"""


@pytest.mark.parametrize("unit", ["schoolnet-report.service", "schoolnet-report.timer"])
def test_systemd_accepts_the_timer_units(unit, tmp_path):
    require_binary("systemd-analyze")
    for name in ("schoolnet-report.service", "schoolnet-report.timer"):
        text = (UNITS / name).read_text(encoding="utf-8")
        text = text.replace("/opt/schoolnet/venv/bin/schoolnet-report", str(Path(sys.executable).parent / "schoolnet-report"))
        (tmp_path / name).write_text(text, encoding="utf-8")
    verified = subprocess.run(["systemd-analyze", "verify", str(tmp_path / unit)], capture_output=True, text=True,
                              timeout=60, check=False)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr
    if unit.endswith(".timer"):
        assert "OnCalendar=*-*-01 07:00:00" in (UNITS / unit).read_text(encoding="utf-8")


class _Sink(socketserver.ThreadingTCPServer):
    """An SMTP server just big enough for smtplib: EHLO, STARTTLS, AUTH PLAIN, one message."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext):
        self.context, self.messages, self.logins = context, [], []
        self.arrived = threading.Event()
        super().__init__(("127.0.0.1", 0), _SmtpSession)


class _SmtpSession(socketserver.StreamRequestHandler):
    def handle(self):
        self.tls = False
        self._say("220 sink ESMTP")
        while True:
            line = self.rfile.readline().decode().strip()
            if not line:
                return
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                extra = "250-AUTH PLAIN" if self.tls else "250-STARTTLS"
                self._say(f"250-sink\r\n{extra}\r\n250 8BITMIME")
            elif verb == "STARTTLS":
                self._say("220 go ahead")
                self.connection = self.server.context.wrap_socket(self.connection, server_side=True)
                self.rfile, self.wfile = self.connection.makefile("rb"), self.connection.makefile("wb")
                self.tls = True
            elif verb == "AUTH":
                self.server.logins.append((self.tls, line.split(" ", 2)[2]))
                self._say("235 ok")
            elif verb == "DATA":
                self._say("354 end with .")
                self.server.messages.append(self._data())
                self._say("250 queued")
                self.server.arrived.set()
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 ok")

    def _data(self) -> bytes:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)

    def _say(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()


@pytest.fixture
def smtp_sink(tmp_path):
    require_binary("openssl")
    cert, key = tmp_path / "sink.pem", tmp_path / "sink.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    sink = _Sink(context)
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    yield sink, cert
    sink.shutdown()
    sink.server_close()


def test_report_is_mailed_with_xlsx_and_pdf(history_store, smtp_sink, tmp_path, capsys):
    require_binary("chromium")
    sink, cert = smtp_sink
    secret = "s3cret-not-in-logs"
    (tmp_path / "smtp_password").write_text(secret + "\n")
    (tmp_path / "roster.yaml").write_text(ROSTER_YAML, encoding="utf-8")
    (tmp_path / "mail.yaml").write_text(
        f"smtp:\n  host: 127.0.0.1\n  port: {sink.server_address[1]}\n  tls: starttls\n"
        f"  username: reports@county.example\n  password_file: {tmp_path / 'smtp_password'}\n"
        f"  from: reports@county.example\n  ca_file: {cert}\n", encoding="utf-8")
    status = cli.main(["--roster", str(tmp_path / "roster.yaml"), "--store", history_store.url, "--county", "hx",
                       "--month", "2026-10", "--format", "xlsx,pdf", "--out", str(tmp_path / "out"),
                       "--mail", str(tmp_path / "mail.yaml")])
    printed = capsys.readouterr()
    assert status == 0, printed.err
    assert secret not in printed.out + printed.err
    assert sink.arrived.is_set() and len(sink.messages) == 1
    assert sink.logins and all(tls for tls, _ in sink.logins), "password sent before STARTTLS"
    mail = email.message_from_bytes(sink.messages[0], policy=email.policy.default)
    assert "华县" in mail["Subject"] and mail["To"] == "dianjiao@hx.example.cn, kejiguan@hx.example.cn"
    files = {part.get_filename(): part.get_content() for part in mail.iter_attachments()}
    assert sorted(files) == ["schoolnet_hx_2026-10.pdf", "schoolnet_hx_2026-10.xlsx"]
    assert files["schoolnet_hx_2026-10.pdf"].startswith(b"%PDF")
    (tmp_path / "attached.xlsx").write_bytes(files["schoolnet_hx_2026-10.xlsx"])
    rows = list(openpyxl.load_workbook(tmp_path / "attached.xlsx")["学校"].iter_rows(min_row=2, values_only=True))
    assert [(row[2], row[8]) for row in rows] == [("大庄中学", 99.43), ("撤并小学", "—")]


def test_a_roster_mistake_names_file_line_and_key(tmp_path, capsys):
    bad = ROSTER_YAML.replace("type: 初中", "type: 中学")
    (tmp_path / "roster.yaml").write_text(bad, encoding="utf-8")
    status = cli.main(["--roster", str(tmp_path / "roster.yaml"), "--county", "hx", "--month", "2026-10"])
    err = capsys.readouterr().err
    assert status == 2
    assert f"{tmp_path / 'roster.yaml'}:14: schools[0].type:" in err and "初中" in err


def test_the_example_roster_reads():
    from report import roster_file

    roster = roster_file.load(REPO / "report/example-roster.yaml")
    assert [school.name for school in roster.schools] == ["大庄中学"]
    assert roster.settings.term("2026-2027学年第一学期").days.last.isoformat() == "2027-01-22"
