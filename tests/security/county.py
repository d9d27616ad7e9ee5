"""The county's servers as the security tests need them: a mosquitto that wants passwords,
TLS listeners with certificates from our own CAs (made with the openssl CLI), and collector
configs that point at their secrets by file.

Everything listens on 127.0.0.1; the certificates are valid for two days.
Collector configs come from schoolnet_stack.processes.write_collector_config.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from schoolnet_stack.requirements import require_binary

AGENT_USER = "hx-agents"
COLLECTOR_USER = "schoolnet-collector"
ACL = f"""\
user {AGENT_USER}
topic readwrite schoolnet/v1/hx/#

user {COLLECTOR_USER}
topic readwrite schoolnet/#
"""


# --- passwords ---------------------------------------------------------------------------


def password_config(directory: Path, passwords: dict[str, str]) -> str:
    """mosquitto settings: a password file (hashed by mosquitto_passwd) and the ACL."""
    require_binary("mosquitto_passwd")
    directory.mkdir(parents=True, exist_ok=True)
    password_file, acl_file = directory / "passwd", directory / "acl"
    password_file.write_text("")
    for user, password in passwords.items():
        subprocess.run(["mosquitto_passwd", "-b", str(password_file), user, password],
                       check=True, capture_output=True, timeout=30)  # fmt: skip
    acl_file.write_text(ACL)
    return f"password_file {password_file}\nacl_file {acl_file}\n"


def secret_file(directory: Path, name: str, secret: str) -> Path:
    """A secret in a file of its own, readable only by us, as deploy/ installs them."""
    path = directory / name
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


# --- certificates --------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


def make_ca(directory: Path, name: str) -> Certificate:
    """A self-signed CA, as a county (or an impostor) would make one."""
    require_binary("openssl")
    directory.mkdir(parents=True, exist_ok=True)
    ca = Certificate(directory / f"{name}-ca.pem", directory / f"{name}-ca.key")
    _openssl("req", "-x509", *_NEW_KEY, "-keyout", ca.key, "-out", ca.cert, "-days", "2",
             "-subj", f"/CN=schoolnet test CA {name}", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    return ca


def make_server_certificate(ca: Certificate, directory: Path, name: str, names: str) -> Certificate:
    """A broker certificate signed by `ca`, valid for `names` (subjectAltName syntax,
    e.g. "IP:127.0.0.1,DNS:localhost")."""
    server = Certificate(directory / f"{name}.pem", directory / f"{name}.key")
    csr, ext = directory / f"{name}.csr", directory / f"{name}.ext"
    ext.write_text(f"subjectAltName={names}\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\n")  # fmt: skip
    _openssl("req", *_NEW_KEY, "-keyout", server.key, "-out", csr, "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
             "-out", server.cert, "-days", "2", "-extfile", ext)  # fmt: skip
    return server


_NEW_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(*args: object) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


def tls_listener(port: int, server: Certificate, ca: Certificate) -> str:
    """mosquitto settings for one more listener, TLS with `server`'s certificate."""
    return (f"listener {port} 127.0.0.1\ncafile {ca.cert}\ncertfile {server.cert}\n"
            f"keyfile {server.key}\n")  # fmt: skip
