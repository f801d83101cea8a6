"""Throw-away PKI of the development fabric.

Like a real DXL deployment it has two authorities: a *broker CA* that signs the
broker's certificate (clients trust it through ``BrokerCertChain``) and a
*client CA* that signs client certificates (the broker requires one). Keys are
RSA because the cipher ``dxlclient`` insists on, ``AES128-SHA256``, uses RSA key
exchange. Everything is unencrypted PEM, readable by its owner only.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

BROKER_IDENTITIES = ("127.0.0.1", "localhost")

_CLIENT_CA = "client-ca"
_BROKER_CA = "broker-ca"
_BROKER = "broker"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read, whatever the umask."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    path.chmod(0o600)


def certificate_sha1(der: bytes) -> str:
    """The SHA-1 of a DER certificate: how a broker names a certificate client."""
    return hashlib.sha1(der).hexdigest()


def certificate_file_sha1(path: Path) -> str:
    """The SHA-1 of the first certificate in a PEM file."""
    return certificate_sha1(ssl.PEM_cert_to_DER_cert(path.read_text(encoding="ascii")))


@dataclass(frozen=True)
class Pki:
    """The PEM files of one fabric, kept in ``directory``."""

    directory: Path

    @classmethod
    def ensure(cls, directory: Path) -> Pki:
        """Load the PKI kept in ``directory``, making whatever is missing.

        Reusing an existing PKI lets a restarted broker accept the client
        configurations written for its predecessor.
        """
        pki = cls(Path(directory))
        pki.directory.mkdir(parents=True, exist_ok=True)
        pki.directory.chmod(0o700)
        if not pki.client_ca_cert.exists():
            pki._write_ca(_CLIENT_CA, trustme.CA(key_type=trustme.KeyType.RSA))
        if not pki.broker_ca_cert.exists():
            pki._write_ca(_BROKER_CA, trustme.CA(key_type=trustme.KeyType.RSA))
        if not pki.broker_cert.exists():
            leaf = pki._load_ca(_BROKER_CA).issue_cert(
                *BROKER_IDENTITIES, common_name="devfabric broker", key_type=trustme.KeyType.RSA
            )
            write_private(pki.broker_key, leaf.private_key_pem.bytes())
            write_private(pki.broker_cert, leaf.cert_chain_pems[0].bytes())
        return pki

    @property
    def client_ca_cert(self) -> Path:
        return self._path(_CLIENT_CA, "crt")

    @property
    def broker_ca_cert(self) -> Path:
        return self._path(_BROKER_CA, "crt")

    @property
    def broker_cert(self) -> Path:
        return self._path(_BROKER, "crt")

    @property
    def broker_key(self) -> Path:
        return self._path(_BROKER, "key")

    def issue_client(self, name: str, directory: Path) -> tuple[Path, Path]:
        """Sign a new certificate for client ``name``; write ``name.crt`` and ``name.key``."""
        if not name or Path(name).name != name:
            raise ValueError(f"client name must be a plain file name, not {name!r}")
        # cryptography 51 refuses a certificate without a subjectAltName; an e-mail
        # identity takes any file-safe name (a DNS one would need IDNA rules)
        leaf = self._load_ca(_CLIENT_CA).issue_cert(
            f"{name}@clients.dxl.invalid", common_name=name, key_type=trustme.KeyType.RSA
        )
        cert, key = Path(directory) / f"{name}.crt", Path(directory) / f"{name}.key"
        write_private(key, leaf.private_key_pem.bytes())
        write_private(cert, leaf.cert_chain_pems[0].bytes())
        return cert, key

    def _path(self, stem: str, suffix: str) -> Path:
        return self.directory / f"{stem}.{suffix}"

    def _write_ca(self, stem: str, ca: trustme.CA) -> None:
        write_private(self._path(stem, "key"), ca.private_key_pem.bytes())
        write_private(self._path(stem, "crt"), ca.cert_pem.bytes())

    def _load_ca(self, stem: str) -> trustme.CA:
        return trustme.CA.from_pem(
            self._path(stem, "crt").read_bytes(), self._path(stem, "key").read_bytes()
        )
