"""Sign a finished WAV file with a C2PA manifest, or leave it as it is and say why in one line.

Signing happens after the file is closed, never on the audio path. A missing or
broken key, a missing ``c2pa`` library or a failed signature never stops the
music: the file keeps its RIFF LIST/INFO tags and the caller logs the one line.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from edge.credentials import keys

ALG = b"es256"
SIGNING_MEMORY = 3.0
"""Memory signing takes, as a multiple of the file's size: c2pa-python (0.38) holds the file, the
signed copy and a Python copy of it at once (measured 2.9x: a 124 MB WAV peaked 363 MB over
the process; docs/benchmarks.md, content credentials)."""
SIGNING_HEADROOM = 64 << 20
"""Memory left free for everything else while signing, bytes."""


def signing_needs(size: int) -> int:
    """Bytes of memory signing a ``size``-byte file takes, headroom included."""
    return int(SIGNING_MEMORY * size) + SIGNING_HEADROOM


def credentials_dir(config: Any) -> Path:
    """The folder of the device's credentials for a ``CredentialsConfig``."""
    return Path(config.dir) if config.dir else keys.default_dir()


def sign_wav(
    path: str | os.PathLike[str],
    manifest: dict[str, Any],
    config: Any,
    ingredient: Path | None = None,
    available: int | None = None,
) -> str | None:
    """Embed a signed manifest in the WAV at ``path`` (in place, atomically).

    ``config`` is a ``CredentialsConfig``; ``ingredient`` the file a derived work was made from
    (a reimagined track's original), recorded with its hash as the work's input; ``available`` the
    memory free for signing (None: what the system has available now). A file too large to sign
    in that memory is left as it is: a board must not run out of memory over a day's recording.
    Returns None when signed, else one line saying why not; the file is then unchanged. Never
    raises, never logs a key.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot sign {path}: {exc.strerror or exc}"
    if available is None:
        import psutil

        available = int(psutil.virtual_memory().available)
    if signing_needs(size) > available:
        return (
            f"{path} is {size / 1e6:.0f} MB: signing it would take about {signing_needs(size) / 1e6:.0f} MB "
            f"of memory, and {available / 1e6:.0f} MB is available (shorter recordings are signed)"
        )
    try:
        creds = keys.load(credentials_dir(config), config.cert, config.key)
    except keys.CredentialsError as exc:
        return str(exc)
    try:
        import c2pa
    except ImportError as exc:  # a broken install (no wheel for this platform)
        return f"the c2pa library is not available ({exc})"
    tmp = path.with_name(f".{path.name}.c2pa-tmp")
    try:
        info = c2pa.C2paSignerInfo(alg=ALG, sign_cert=creds.chain_pem, private_key=creds.key_pem, ta_url=None)
        signer = c2pa.Signer.from_info(info)
        with c2pa.Builder(json.dumps(manifest)) as builder, path.open("rb") as src, tmp.open("w+b") as dst:
            if ingredient is not None:
                with ingredient.open("rb") as original:
                    described = {"title": ingredient.name, "relationship": "inputTo"}
                    builder.add_ingredient(json.dumps(described), _mime(ingredient), original)
            builder.sign(signer, "audio/wav", src, dst)
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as exc:
        return f"cannot sign {path}: {exc.strerror or exc}"
    except Exception as exc:  # c2pa.C2paError and anything else the native library raises
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"cannot sign {path}: {first}"
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return None


def sign_render(
    path: str | os.PathLike[str],
    config: Any,
    *,
    styles: Sequence[Any],
    seed: int,
    tiers: Iterable[str],
    registry: Any,
    parameters: dict[str, Any] | None = None,
    session: str | None = None,
    original: Path | None = None,
) -> str | None:
    """Sign a file edge-music wrote with what made it; None, or one line saying why not.

    ``config`` is the whole Config; ``styles`` the ``StylePack`` objects that played, first the one
    it started with; ``tiers`` every tier that wrote a bar ("0", "S", ...); ``session`` the daemon's
    session id (a render gets a new one); ``original`` the track a reimagined file was made from
    (the file is then a composite, the original its ingredient).
    """
    from edge.credentials import manifest

    try:
        definition = manifest.build(
            title=Path(path).name,
            seed=seed,
            session=session or manifest.new_session_id(),
            style=[manifest.style_attribution(pack) for pack in styles],
            models=manifest.model_records(registry, tiers),
            training_mining=config.credentials.training_mining,
            parameters=parameters,
            derived=original is not None,
        )
    except Exception as exc:  # never let the record-keeping stop the music
        return f"cannot build the manifest: {exc}"
    return sign_wav(path, definition, config.credentials, ingredient=original)


_MIME = {
    ".mid": "audio/midi",
    ".midi": "audio/midi",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
}


def _mime(path: Path) -> str:
    return _MIME.get(path.suffix.lower(), "application/octet-stream")
