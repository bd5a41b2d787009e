"""The device's signing credentials: a per-device CA and a signing certificate under it.

Created on first use in the credentials folder (``[credentials] dir``): ``ca.pem``
(the device CA, public), ``ca.key`` (its key), ``signer.pem`` (the chain: the
signing certificate, then the CA) and ``signer.key`` (the signing key, PKCS#8).
Keys are written mode 0600 and never logged. A C2PA reader calls such a
signer untrusted, which is honest for a device; the manifest still validates.
An organisation's own certificate chain and key replace them through
``[credentials] cert`` and ``key``.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from edge.state import state_path

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
SIGNER_CHAIN = "signer.pem"
SIGNER_KEY = "signer.key"
LOCK = ".lock"
VALID_DAYS = 10 * 365


class CredentialsError(Exception):
    """The signing credentials are missing or broken; ``str()`` is one line, without secrets."""


@dataclass(frozen=True)
class Credentials:
    """A certificate chain (PEM, signing certificate first) and its private key (PEM)."""

    chain_pem: bytes
    key_pem: bytes
    where: str
    """The folder or files they came from, for messages."""


def default_dir(env: dict[str, str] | None = None) -> Path:
    """The credentials folder when the config names none: ``credentials`` in the state directory."""
    return state_path("credentials", env=env)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edge-music device"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(sign: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file that only its owner can read (0600 from the start)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o600)  # whatever the umask did
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def create(folder: Path, device: str | None = None) -> Credentials:
    """Create a device CA and a signing certificate under it in ``folder`` (replacing any)."""
    device = device or socket.gethostname() or "edge-music"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    until = now + datetime.timedelta(days=VALID_DAYS)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"edge-music device CA ({device})")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(sign=False, cert_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(f"edge-music on {device}"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(sign=True, cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_pem
    # The CA key is kept so the device could issue a new signing certificate under the same CA.
    _write_private(folder / CA_KEY, _key_pem(ca_key))
    _write_private(folder / SIGNER_KEY, _key_pem(key))
    (folder / CA_CERT).write_bytes(ca_pem)
    (folder / SIGNER_CHAIN).write_bytes(chain)
    return Credentials(chain, _key_pem(key), str(folder))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CredentialsError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def _check(chain: bytes, key_pem: bytes, where: str) -> None:
    """The chain parses, the key parses, and the key belongs to the first certificate."""
    try:
        certs = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise CredentialsError(f"{where}: the certificate chain is not PEM certificates") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        # Never echo the key or the parser's view of it.
        raise CredentialsError(f"{where}: the private key is not an unencrypted PEM key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CredentialsError(f"{where}: the private key must be EC P-256 (ES256)")
    if certs[0].public_key() != key.public_key():
        raise CredentialsError(f"{where}: the private key does not match the signing certificate")
    now = datetime.datetime.now(datetime.UTC)
    if (until := certs[0].not_valid_after_utc) < now:
        raise CredentialsError(f"{where}: the signing certificate expired on {until:%Y-%m-%d}")


def load(folder: Path, cert: str = "", key: str = "", create_missing: bool = True) -> Credentials:
    """The credentials to sign with; raises CredentialsError (one line) when unusable.

    With ``cert`` and ``key`` (an organisation's chain and key) those files are used
    as they are. Otherwise the device's own in ``folder``, created there when the
    folder holds neither file and ``create_missing`` is set. A folder holding only
    one of them, or a broken one, is an error: it is never silently replaced.
    """
    if cert or key:
        if not (cert and key):
            raise CredentialsError("credentials.cert and credentials.key must be given together")
        chain_pem, key_pem = _read(Path(cert), "certificate chain"), _read(Path(key), "private key")
        where = cert
    else:
        chain_path, key_path = folder / SIGNER_CHAIN, folder / SIGNER_KEY
        if create_missing and not chain_path.exists() and not key_path.exists():
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                why = exc.strerror or exc
                raise CredentialsError(f"cannot create credentials in {folder}: {why}") from None
        # One creator at a time, and no reader while a pair is half written (the daemon and a
        # render on first boot): never a mixed or a torn pair.
        with _locked(folder):
            if create_missing and not chain_path.exists() and not key_path.exists():
                try:
                    return create(folder)
                except OSError as exc:
                    why = exc.strerror or exc
                    raise CredentialsError(f"cannot create credentials in {folder}: {why}") from None
            chain_pem, key_pem = _read(chain_path, "certificate chain"), _read(key_path, "private key")
        where = str(folder)
    _check(chain_pem, key_pem, where)
    return Credentials(chain_pem, key_pem, where)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the folder's lock file (exclusive) where it can be opened; a read-only folder goes unlocked."""
    try:
        lock = open(folder / LOCK, "a")  # noqa: SIM115  (held for the whole block)
    except OSError:
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
