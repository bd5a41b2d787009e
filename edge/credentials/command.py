"""``edge-music credentials``: where the device's signing keys are, and whether they work.

``--init`` creates the device CA and signing certificate when the folder holds neither
(``scripts/install-pi.sh`` runs it as the service user, so the first boot signs at once).
Exit 0 when files would be signed, 1 when they would not (the reason in one line), 2 for
a folder that cannot be made.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any, TextIO

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from edge.credentials import keys
from edge.credentials.sign import credentials_dir
from edge.exits import EXIT_FAILED, EXIT_OK


def credentials_command(config: Any, init: bool, out: TextIO = sys.stdout) -> int:
    """Show (and with ``init`` create) the signing credentials of ``config.credentials``."""
    settings = config.credentials
    folder = credentials_dir(settings)
    try:
        found = keys.load(folder, settings.cert, settings.key, create_missing=init)
    except keys.CredentialsError as exc:
        print(f"edge-music: credentials: {exc}", file=sys.stderr)
        if not init and not settings.cert and not (folder / keys.SIGNER_CHAIN).exists():
            print("edge-music: run 'edge-music credentials --init' to create them", file=sys.stderr)
        return EXIT_FAILED
    signer = x509.load_pem_x509_certificates(found.chain_pem)[0]
    fingerprint = hashlib.sha256(signer.public_bytes(Encoding.DER)).hexdigest()
    print(f"credentials: {found.where}", file=out)
    print(f"signer: {signer.subject.rfc4514_string()}", file=out)
    print(f"issuer: {signer.issuer.rfc4514_string()}", file=out)
    print(f"valid until: {signer.not_valid_after_utc:%Y-%m-%d}", file=out)
    print(f"sha256 fingerprint: {fingerprint}", file=out)
    state = "on" if settings.enabled else "off ([credentials] enabled = false)"
    print(f"signing: {state}", file=out)
    return EXIT_OK
