"""Packs made the way an author outside the source tree makes them, and hostile archives crafted
member by member (tarfile.TarInfo, zipfile.ZipInfo) for every refusal."""

from __future__ import annotations

import hashlib
import io
import shutil
import stat
import tarfile
import wave
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOCUS = ROOT / "edge" / "styles" / "focus.toml"
MODEL = ROOT / "models" / "edge-S.onnx"


def style_text(name: str, author: str = "Ada Example", licence: str = "CC-BY-4.0") -> str:
    """The focus style renamed, with the author, version, licence and contact of a third party."""
    lines = []
    for line in FOCUS.read_text().splitlines():
        key = line.split("=")[0].strip()
        if key == "name":
            line = f'name = "{name}"'
        elif key == "author":
            line = f'author = "{author}"'
        elif key == "version":
            line = 'version = "1.2.0"'
        elif key == "licence":
            line = f'licence = "{licence}"\ncontact = "ada@example.org"'
        lines.append(line)
    return "\n".join(lines) + "\n"


def tiny_wav(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 400)


def write_sums(folder: Path) -> None:
    """SHA256SUMS as `sha256sum` writes it, for every file but itself."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "SHA256SUMS"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(folder).as_posix()}")
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def make_pack(parent: Path, name: str = "lofi-garden", model: bool = False, **style: str) -> Path:
    """A good pack folder: style, licence, a WAV and an SFZ over it, optionally an artist model."""
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "pack.toml").write_text(style_text(name, **style))
    (folder / "LICENCE").write_text("Creative Commons Attribution 4.0 International\n")
    (folder / "README.md").write_text(f"# {name}\n")
    tiny_wav(folder / "samples" / "keys" / "c4.wav")
    (folder / "samples" / "keys.sfz").write_text(
        "// a keyboard\n<control> default_path=keys/\n<region> sample=c4.wav lokey=0 hikey=127\n"
        "<region> sample=*sine key=100\n"
    )
    if model:
        (folder / "model").mkdir()
        shutil.copy(MODEL, folder / "model" / "artist-S.onnx")
        shutil.copy(MODEL.with_name(MODEL.name + ".json"), folder / "model" / "artist-S.onnx.json")
    write_sums(folder)
    return folder


def tar_gz(folder: Path, out: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]] = ()) -> Path:
    """The folder as <name>/... in a .tar.gz, plus crafted members."""
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = "") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o644
    return info, data if kind == tarfile.REGTYPE else None


def zip_of(folder: Path, out: Path, extra: list[tuple[zipfile.ZipInfo, bytes]] = ()) -> Path:
    """The folder as <name>/... in a .zip, plus crafted members."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
        for info, data in extra:
            archive.writestr(info, data)
    return out


def zip_member(name: str, data: bytes = b"", mode: int = stat.S_IFREG | 0o644) -> tuple:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info, data


ARTIST = "Jane Doe"


def artist_pack(parent: Path, name: str = "jane-rain", tier: str = "S") -> Path:
    """A pack whose model/ holds an artist model as the project's pipeline writes one: the shipped
    ``edge-<tier>`` weights (a test must not train), saved again with a note in the ONNX file so its
    sha256 is its own, and a card naming the artist (sha256 recomputed, vocab_hash the same)."""
    import json

    import onnx

    folder = make_pack(parent, name)
    shipped = ROOT / "models" / f"edge-{tier}.onnx"
    model = folder / "model" / f"jane-{tier}.onnx"
    model.parent.mkdir()
    graph = onnx.load(str(shipped))
    graph.doc_string = f"{ARTIST}'s artist model (the shipped edge-{tier} weights, for tests)"
    onnx.save(graph, str(model))
    card = json.loads(shipped.with_name(shipped.name + ".json").read_text())
    card.update(name=f"jane-{tier}", author=ARTIST, licence="CC-BY-4.0", tags=["user"])
    card["collections"] = [
        {"name": "jane-songs", "kind": "midi", "tag": "user", "licence": "Jane's own songs, all rights hers",
         "consent": "Jane agreed to training on them", "terms_checked": "she wrote them", "artist": ARTIST,
         "train_tokens": 120000, "share": 1.0},
    ]  # fmt: skip
    card["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    model.with_name(model.name + ".json").write_text(json.dumps(card, indent=2))
    write_sums(folder)
    return folder
