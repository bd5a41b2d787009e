"""``edge-music verify FILE``: read and validate a WAV file's content credentials.

Exit 0: a manifest is there and the file is unchanged since it was signed (a
device's own certificate is reported as untrusted, which is honest; the
signature still validates). Exit 1: no manifest (unsigned) or the file was
changed after signing. Exit 2: the file cannot be read or is not a WAV file
(one line on stderr).
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path
from typing import Any, TextIO

from edge.credentials.manifest import PROVENANCE_LABEL, UNATTRIBUTED
from edge.exits import EXIT_OK, EXIT_USAGE
from edge.outputs import write_stdout

KINDS = {
    "trainedAlgorithmicMedia": "made by a trained model",
    "algorithmicMedia": "made by an algorithm, no trained model",
}
"""IPTC digital source types, in words."""
EXIT_NOT_VALID = 1
"""Unsigned, or changed since it was signed."""
EXIT_UNREADABLE = EXIT_USAGE
"""Not readable, or not a WAV file."""


def _assertion(manifest: dict[str, Any], label: str) -> Any:
    for item in manifest.get("assertions", []):
        if item.get("label") == label or item.get("label", "").startswith(label + ".v"):
            return item.get("data")
    return None


def _codes(report: dict[str, Any], kind: str) -> list[str]:
    active = report.get("validation_results", {}).get("activeManifest", {})
    return [c.get("code", "") for c in active.get(kind, [])]


def describe(report: dict[str, Any]) -> list[str]:
    """Human lines: who signed, which software, from what, on what terms."""
    manifest = report.get("manifests", {}).get(report.get("active_manifest", ""), {})
    lines = []
    sig = manifest.get("signature_info", {})
    signer = sig.get("common_name") or sig.get("issuer") or "unknown"
    trust = (
        "untrusted: on no trust list, as with a device's own CA"
        if "signingCredential.untrusted" in _codes(report, "failure")
        else "trusted"
    )
    lines.append(f"signed by: {signer} (issuer {sig.get('issuer', '?')}; {trust})")
    gens = manifest.get("claim_generator_info", [])
    if gens:
        lines.append(
            "generator: " + ", ".join(f"{g.get('name', '?')} {g.get('version', '')}".strip() for g in gens)
        )
    if manifest.get("title"):
        lines.append(f"title: {manifest['title']}")
    actions = (_assertion(manifest, "c2pa.actions") or {}).get("actions", [])
    for action in actions:
        source = action.get("digitalSourceType", "")
        if source:
            name = source.rsplit("/", 1)[-1]
            kind = KINDS.get(name, "")
            lines.append(f"source type: {name}" + (f" ({kind})" if kind else ""))
    prov = _assertion(manifest, PROVENANCE_LABEL) or {}
    models = prov.get("models", [])
    if models:
        for m in models:
            names = ", ".join(c.get("name", "?") for c in m.get("collections", []))
            author = (m.get("card") or {}).get("author")
            lines.append(
                f"model: tier {m.get('tier')} {m.get('file')} sha256 {m.get('sha256', '')[:16]}..."
                + (f" from pack {m['pack']}" if m.get("pack") else "")
                + (f" by {author}" if author else "")
                + (f" trained on {names}" if names else "")
            )
    elif prov:
        lines.append("models: none (procedural tier 0)")
    style = prov.get("style")
    if isinstance(style, dict):
        lines.append(
            f"style: {style.get('name')} (author {style.get('author', UNATTRIBUTED)}, "
            f"licence {style.get('licence', UNATTRIBUTED)})"
        )
    if "seed" in prov:
        lines.append(f"seed: {prov['seed']}  session: {prov.get('session', '?')}")
    mining = (_assertion(manifest, "c2pa.training-mining") or {}).get("entries", {})
    if mining:
        uses = sorted({e.get("use", "?") for e in mining.values() if isinstance(e, dict)})
        lines.append(f"AI training and data mining: {', '.join(uses)}")
    return lines


def _check_wav(path: Path) -> str | None:
    """Why the file is unreadable or not a WAV (None when it is a RIFF WAVE file)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(12)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return f"{path} is not a WAV file"
    if struct.unpack("<I", head[4:8])[0] < 4:
        return f"{path} is not a WAV file (empty RIFF)"
    return None


def verify_command(path_arg: str, out: TextIO | None = None, err: TextIO = sys.stderr) -> int:
    """Print the verdict and the manifest's story (stdout unless ``out``); return the exit code."""
    path = Path(path_arg)
    problem = _check_wav(path)
    if problem:
        print(f"edge-music: error: {problem}", file=err)
        return EXIT_UNREADABLE
    try:
        import c2pa
    except ImportError as exc:
        print(f"edge-music: error: the c2pa library is not available ({exc})", file=err)
        return EXIT_UNREADABLE
    try:
        with path.open("rb") as fh, c2pa.Reader("audio/wav", fh) as reader:
            report = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        from edge.audio.wav import read_info

        try:
            software = read_info(path).get("ISFT", "")
        except (OSError, ValueError):
            software = ""
        note = f" (its LIST/INFO names {software})" if software else ""
        return _emit([f"{path}: unsigned: no content credentials{note}"], EXIT_NOT_VALID, out)
    except OSError as exc:
        print(f"edge-music: error: cannot read {path}: {exc.strerror or exc}", file=err)
        return EXIT_UNREADABLE
    except Exception as exc:  # a manifest that cannot be parsed was damaged after signing
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return _emit(
            [f"{path}: CHANGED or damaged: the manifest cannot be read ({first})"], EXIT_NOT_VALID, out
        )
    state = report.get("validation_state", "Invalid")
    valid = state in ("Valid", "Trusted")
    if valid:
        verdict = f"{path}: valid: unchanged since it was signed"
    else:
        failures = [c for c in _codes(report, "failure") if c != "signingCredential.untrusted"]
        verdict = f"{path}: CHANGED since it was signed ({', '.join(failures) or state})"
    lines = [verdict, *(f"  {line}" for line in describe(report))]
    return _emit(lines, EXIT_OK if valid else EXIT_NOT_VALID, out)


def _emit(lines: list[str], code: int, out: TextIO | None) -> int:
    """Write the report; a closed or failing stdout becomes the CLI's OutputError (exit 141 or 1)."""
    text = "\n".join(lines) + "\n"
    if out is None:
        write_stdout(text)
    else:
        out.write(text)
    return code
