"""What a pack must hold, checked file by file: one line per problem, naming the file and the key.

A pack is one folder named after the pack::

    <name>/
      pack.toml         the style (edge/styles format) plus author, version, licence [, contact]
      LICENCE           the licence text (also LICENSE, COPYING, with .txt or .md)
      SHA256SUMS        `sha256sum` output for every other file of the pack
      README.md         optional
      samples/          optional: .wav .flac .sfz .sf2 .sf3, checked by their magic bytes
      model/            optional: an artist model, <file>.onnx beside its card <file>.onnx.json

Anything else is refused: a pack is data, never code.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Any

from edge.digest import sha256_of
from edge.music.style import PACK_FILE, StyleError, parse_pack

SUMS_FILE = "SHA256SUMS"
LICENCE_FILES = tuple(stem + ext for stem in ("LICENCE", "LICENSE", "COPYING") for ext in ("", ".txt", ".md"))
README_FILES = ("README", "README.md", "README.txt")
FOLDERS = ("samples", "model")
SAMPLE_FORMATS = (".wav", ".flac", ".sfz", ".sf2", ".sf3")
REQUIRED_ABOUT = ("author", "version", "licence")
"""pack.toml keys a built-in pack may leave out but an installable one must fill."""
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MAX_SFZ_BYTES = 4_000_000


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a pack (it becomes a folder, an MQTT value and a select option)."""
    if not NAME.match(name):
        return f"{name!r} is not a pack name (lower-case letters, digits, - and _, at most 40)"
    return None


def find_root(staged: Path) -> tuple[Path | None, str]:
    """The pack's folder inside a staged tree and the pack's name; (None, why) when there is none.

    Either the tree holds one folder (its name is the pack's) or pack.toml sits at the top,
    when the ``name`` it declares names the pack.
    """
    top = staged / PACK_FILE
    if top.is_file():
        try:
            declared = tomllib.loads(top.read_text("utf-8")).get("name")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
            declared = None
        if not isinstance(declared, str):
            return None, f"{PACK_FILE}: name: expected the pack's name (a string)"
        return staged, declared
    entries = list(staged.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0], entries[0].name
    found = ", ".join(sorted(e.name for e in entries)) or "nothing"
    return None, f"expected one folder holding {PACK_FILE} (found {found})"


def check_pack(root: Path, name: str, builtin: tuple[str, ...] = ()) -> list[str]:
    """Every problem of the pack in ``root`` (called ``name``), one line each; [] when it is good."""
    problems: list[str] = []

    def say(rel: str, message: str) -> None:
        problems.append(f"{name}/{rel}: {message}" if rel else f"{name}: {message}")

    why = name_problem(name)
    if why:
        say("", why)
    elif name in builtin:
        say(PACK_FILE, f"name: {name!r} is a built-in pack; choose another name")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    _check_layout(root, files, say)
    _check_style(root, name, say)
    _check_sums(root, files, say)
    for rel in files:
        if rel.startswith("samples/"):
            _check_sample(root, rel, say)
        elif rel.startswith("model/"):
            _check_model_file(root, rel, say)
    return problems


def _check_layout(root: Path, files: list[str], say: Any) -> None:
    if PACK_FILE not in files:
        say(PACK_FILE, "missing (the style of the pack)")
    if SUMS_FILE not in files:
        say(SUMS_FILE, "missing (sha256sum of every other file)")
    licences = [f for f in files if f in LICENCE_FILES]
    if not licences:
        say("", "no licence text (LICENCE, LICENSE or COPYING, optionally with .txt or .md)")
    for lic in licences:
        if not (root / lic).read_bytes().strip():
            say(lic, "is empty")
    allowed = {PACK_FILE, SUMS_FILE, *LICENCE_FILES, *README_FILES}
    for child in sorted(root.iterdir()):
        if child.is_dir() and child.name not in FOLDERS:
            say(child.name + "/", f"not part of a pack (folders: {', '.join(FOLDERS)})")
        elif child.is_file() and child.name not in allowed:
            known = f"{PACK_FILE}, {SUMS_FILE}, a licence, a README, {'/, '.join(FOLDERS)}/"
            say(child.name, f"not part of a pack ({known})")


def _check_style(root: Path, name: str, say: Any) -> None:
    path = root / PACK_FILE
    if not path.is_file():
        return
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        say(PACK_FILE, f"invalid TOML: {exc}")
        return
    if data.get("name") != name:
        say(PACK_FILE, f"name: must equal the pack's folder name {name!r}, got {data.get('name')!r}")
        return
    try:
        pack = parse_pack(data, name, PACK_FILE)
    except StyleError as exc:
        message = str(exc)
        prefix = f"style {name!r} ({PACK_FILE}): "
        say(PACK_FILE, message.removeprefix(prefix))
        return
    for key in REQUIRED_ABOUT:
        if not getattr(pack, key):
            say(PACK_FILE, f"{key}: required in an installable pack")


def _check_sums(root: Path, files: list[str], say: Any) -> None:
    path = root / SUMS_FILE
    if not path.is_file():
        return
    listed: dict[str, tuple[int, str]] = {}
    try:
        lines = path.read_text("utf-8").splitlines()
    except UnicodeDecodeError:
        say(SUMS_FILE, "is not UTF-8 text")
        return
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line)
        if not match:
            say(SUMS_FILE, f"line {number}: expected '<sha256>  <path>' as sha256sum writes it")
            continue
        digest, rel = match.group(1).lower(), match.group(2).removeprefix("./")
        if rel in listed:
            say(SUMS_FILE, f"line {number}: {rel} is listed twice")
        listed[rel] = (number, digest)
    for rel, (number, digest) in sorted(listed.items()):
        if rel not in files:
            say(SUMS_FILE, f"line {number}: {rel} is listed but not in the pack")
        elif sha256_of(root / rel) != digest:
            say(rel, f"sha256 does not match {SUMS_FILE} line {number}")
    for rel in files:
        if rel != SUMS_FILE and rel not in listed:
            say(rel, f"not listed in {SUMS_FILE}")


def _check_sample(root: Path, rel: str, say: Any) -> None:
    suffix = PurePosixPath(rel).suffix.lower()
    if suffix not in SAMPLE_FORMATS:
        say(rel, f"unknown sample format (known: {', '.join(SAMPLE_FORMATS)})")
        return
    with (root / rel).open("rb") as fh:
        head = fh.read(12)
    riff = head[:4] in (b"RIFF", b"RF64")
    expected = {
        ".wav": ("a WAV file (RIFF....WAVE)", riff and head[8:12] == b"WAVE"),
        ".flac": ("a FLAC file (fLaC)", head[:4] == b"fLaC"),
        ".sf2": ("a SoundFont (RIFF....sfbk)", head[:4] == b"RIFF" and head[8:12] == b"sfbk"),
        ".sf3": ("a SoundFont (RIFF....sfbk)", head[:4] == b"RIFF" and head[8:12] == b"sfbk"),
    }
    if suffix in expected:
        what, ok = expected[suffix]
        if not ok:
            say(rel, f"is not {what}: its first bytes say otherwise")
        return
    _check_sfz(root, rel, say)


def _check_sfz(root: Path, rel: str, say: Any) -> None:
    raw = (root / rel).read_bytes()
    if len(raw) > MAX_SFZ_BYTES or b"\0" in raw:
        say(rel, "is not an SFZ text file")
        return
    text = raw.decode("utf-8", errors="replace")
    for line, opcode, value in sfz_references(text):
        where = f"line {line}: {opcode}"
        if "$" in value:
            say(rel, f"{where}: {value!r} uses a #define variable; write the path out")
            continue
        target = value.replace("\\", "/")
        if target.startswith("/") or re.match(r"^[A-Za-z]:", target):
            say(rel, f"{where}: {value!r} is an absolute path; samples must be inside the pack")
            continue
        parts: list[str] = list(PurePosixPath(rel).parent.parts)
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not parts:
                    parts = ["..", "outside"]
                    break
                parts.pop()
            else:
                parts.append(part)
        resolved = "/".join(parts)
        if resolved.startswith(".."):
            say(rel, f"{where}: {value!r} leaves the pack")
        elif not (root / resolved).is_file():
            say(rel, f"{where}: {value!r} is not in the pack")


def sfz_references(text: str) -> list[tuple[int, str, str]]:
    """(line, opcode, path) of every file an SFZ names: ``sample=`` (after ``default_path=``) and
    ``#include``. Built-in generators (``sample=*sine``) name no file."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    found: list[tuple[int, str, str]] = []
    default_path = ""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("//", 1)[0]
        include = re.match(r'\s*#include\s+"([^"]*)"', line)
        if include:
            found.append((number, "#include", include.group(1)))
            continue
        # An opcode's value runs to the next "<header>" or "opcode=" (sample paths may hold spaces).
        for match in re.finditer(r"([A-Za-z0-9_]+)=(.*?)(?=\s+[A-Za-z0-9_]+=|\s*<|$)", line):
            opcode, value = match.group(1), match.group(2).strip()
            if opcode == "default_path":
                default_path = value
            elif opcode == "sample" and value and not value.startswith("*"):
                found.append((number, "sample", default_path + value))
    return found


def _check_model_file(root: Path, rel: str, say: Any) -> None:
    path = PurePosixPath(rel)
    if len(path.parts) != 2:
        say(rel, "model/ holds files only (<name>.onnx and its card <name>.onnx.json)")
    elif rel.endswith(".onnx.json"):
        if not (root / rel.removesuffix(".json")).is_file():
            say(rel, f"is a model card without its model {rel.removesuffix('.json')}")
    elif rel.endswith(".onnx"):
        check_model(root, rel, say)
    else:
        say(rel, "model/ holds only <name>.onnx and its card <name>.onnx.json")


def check_model(root: Path, rel: str, say: Any) -> None:
    """The card parses, fits this runtime's tokenizer, and its sha256 is the model file's (also
    checked before an installed pack's model plays: edge/packs/models.py)."""
    from edge.generator.tokens import vocab_hash

    card_rel = rel + ".json"
    try:
        card = json.loads((root / card_rel).read_text("utf-8"))
    except FileNotFoundError:
        say(rel, f"has no model card ({card_rel})")
        return
    except (UnicodeDecodeError, ValueError) as exc:
        say(card_rel, f"is not valid JSON ({exc})")
        return
    if not isinstance(card, dict):
        say(card_rel, "expected a JSON object")
        return
    shape = card.get("shape")
    for key in ("layers", "heads", "width", "context"):
        value = shape.get(key) if isinstance(shape, dict) else None
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            say(card_rel, f"shape.{key}: expected a positive whole number")
            return
    if card.get("tier") not in ("S", "M", "L"):
        say(card_rel, f"tier: expected S, M or L, got {card.get('tier')!r}")
    recorded = card.get("sha256")
    actual = sha256_of(root / rel)
    if not isinstance(recorded, str):
        say(card_rel, "sha256: missing (the card must record its model's digest)")
    elif recorded.lower() != actual:
        say(card_rel, f"sha256: does not match {rel} (card {recorded[:12]}..., file {actual[:12]}...)")
    if card.get("vocab_hash") != vocab_hash():
        say(card_rel, "vocab_hash: the model was trained for another tokenizer than this edge-music's")
