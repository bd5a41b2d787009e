"""Bring a pack (a folder, a ``.tar.gz`` or a ``.zip``) into a fresh folder, refusing hostile ones.

A pack is untrusted data. Every member is checked *before* anything is written:
its name (no absolute path, no ``..``, no backslash or control character, no
duplicate), its kind (regular files and folders only: no symlink, hard link,
device or fifo) and the running totals (bytes, files, and for an archive the
expansion ratio) against ``Limits``. Only then is it written, below the fresh
folder and nowhere else; tar members go through ``tarfile``'s ``filter="data"``
as a second guard. Each refusal is one line naming the source and the member.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

CHUNK = 1 << 16
HEADER_ALLOWANCE = 4096
"""Bytes of tar headers and padding allowed per member on top of the file data (long names, PAX)."""


@dataclass(frozen=True)
class Limits:
    """What one pack may hold once expanded (``[packs]`` in the config)."""

    max_bytes: int = 200_000_000
    """Total size of the files, in bytes."""
    max_files: int = 2000
    """Number of files and folders."""
    max_ratio: float = 1000.0
    """Expanded size over archive size; deflate at its best reaches about 1032:1."""

    @classmethod
    def from_config(cls, packs: Any) -> Limits:
        """From the ``[packs]`` config section."""
        return cls(round(packs.max_mb * 1_000_000), packs.max_files, packs.max_ratio)


@dataclass
class Staged:
    """The outcome of bringing a pack in."""

    folder: Path
    """Where its files now are (only regular files and folders)."""
    problems: list[str] = field(default_factory=list)
    """One line per refusal, in the order found."""
    complete: bool = True
    """False when bringing it in stopped early (a limit, an unreadable archive): the rest is unchecked."""


class _Stop(Exception):
    """A limit was crossed: nothing more is read."""


def member_path(name: str) -> tuple[PurePosixPath | None, str]:
    """The member's path inside the pack, or None and why it may not be written."""
    if not name or any(ord(c) < 32 or c == "\x7f" for c in name):
        return None, "control character in the name"
    if "\\" in name:
        return None, "backslash in the path"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None, "absolute path"
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, "path traversal (..)"
    if not parts:
        return PurePosixPath("."), ""
    return PurePosixPath(*parts), ""


class _Writer:
    """Writes checked members below ``root``, keeping the totals."""

    def __init__(self, source: Path, root: Path, limits: Limits) -> None:
        self.source, self.root, self.limits = source, root, limits
        self.staged = Staged(root)
        self.bytes = 0
        self.count = 0
        self.seen: set[PurePosixPath] = set()

    def refuse(self, name: str, why: str) -> None:
        self.staged.problems.append(f"{self.source.name}: {name}: {why}")

    def stop(self, why: str) -> None:
        self.staged.problems.append(f"{self.source.name}: {why}")
        self.staged.complete = False
        raise _Stop

    def admit(self, name: str, size: int) -> PurePosixPath | None:
        """Check one regular file or folder (size < 0) by name and totals; its path, or None."""
        path, why = member_path(name)
        if path is None:
            self.refuse(name, why)
            return None
        if path == PurePosixPath("."):
            return None
        if path in self.seen:
            self.refuse(name, "appears twice")
            return None
        self.seen.add(path)
        self.count += 1
        if self.count > self.limits.max_files:
            self.stop(f"holds more than {self.limits.max_files} files and folders (packs.max_files)")
        self.bytes += max(size, 0)
        if self.bytes > self.limits.max_bytes:
            self.stop(f"expands beyond {self.limits.max_bytes / 1e6:g} MB (packs.max_mb)")
        return path

    def target(self, path: PurePosixPath) -> Path:
        target = self.root.joinpath(*path.parts)
        if os.path.commonpath([self.root, target]) != str(self.root):  # cannot happen after member_path
            raise _Stop
        return target

    def folder(self, path: PurePosixPath) -> None:
        self.target(path).mkdir(parents=True, exist_ok=True)

    def file(self, name: str, path: PurePosixPath, data: IO[bytes], size: int) -> None:
        """Copy at most ``size`` bytes (the declared size) into a new file."""
        target = self.target(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("xb") as out:
                left = size
                while left > 0:
                    chunk = data.read(min(CHUNK, left))
                    if not chunk:
                        break
                    out.write(chunk)
                    left -= len(chunk)
                if data.read(1):
                    self.refuse(name, "is larger than its recorded size")
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            self.refuse(name, "clashes with another member of the same name")


def stage(source: str | Path, into: str | Path, limits: Limits) -> Staged:
    """Bring ``source`` (a folder, ``.tar.gz``/``.tgz`` or ``.zip``) into the empty folder ``into``.

    A folder keeps its own name below ``into``; an archive's members land as they are named.
    Nothing is ever written outside ``into``.
    """
    source, root = Path(source), Path(into).resolve()
    writer = _Writer(source, root, limits)
    try:
        if source.is_symlink():
            writer.stop("is a symlink; give the pack itself")
        elif source.is_dir():
            _copy_folder(source, writer)
        elif not source.is_file():
            writer.stop("no such file or folder")
        elif zipfile.is_zipfile(source):
            _unzip(source, writer)
        elif _is_gzip(source):
            _untar(source, writer)
        else:
            writer.stop("is not a folder, a .tar.gz or a .zip")
    except _Stop:
        pass
    except OSError as exc:
        where = f"{source.name}: {Path(exc.filename).name}" if exc.filename else source.name
        writer.staged.problems.append(f"{where}: {exc.strerror or exc}")
        writer.staged.complete = False
    _normalise_modes(root)
    return writer.staged


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _normalise_modes(root: Path) -> None:
    """Files 0644, folders 0755: a pack is data, nothing in it is executable or private."""
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o644)


def _copy_folder(source: Path, writer: _Writer) -> None:
    base = source.name

    def walk(folder: Path, rel: str) -> None:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            name = f"{rel}/{entry.name}"
            info = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                writer.refuse(name, "is a symlink (a pack holds only files and folders)")
            elif stat.S_ISDIR(info.st_mode):
                path = writer.admit(name, -1)
                if path is not None:
                    writer.folder(path)
                    walk(Path(entry.path), name)
            elif stat.S_ISREG(info.st_mode):
                path = writer.admit(name, info.st_size)
                if path is not None:
                    fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
                    with os.fdopen(fd, "rb") as data:
                        writer.file(name, path, data, info.st_size)
            else:
                writer.refuse(name, "is a device file, fifo or socket (a pack holds only files and folders)")

    path = writer.admit(base, -1)
    if path is not None:
        writer.folder(path)
        walk(source, base)


class _Bounded:
    """A read-only stream that refuses to yield more than ``cap`` bytes in all."""

    def __init__(self, inner: IO[bytes], cap: int, on_exceed: Any) -> None:
        self.inner, self.cap, self.read_so_far, self.on_exceed = inner, cap, 0, on_exceed

    def read(self, size: int = -1) -> bytes:
        room = self.cap - self.read_so_far + 1
        size = room if size is None or size < 0 else min(size, room)
        data = self.inner.read(size)
        self.read_so_far += len(data)
        if self.read_so_far > self.cap:
            self.on_exceed()
        return data


def _untar(source: Path, writer: _Writer) -> None:
    limits = writer.limits
    archive_size = max(source.stat().st_size, 1)
    by_ratio = int(archive_size * limits.max_ratio)
    cap = min(limits.max_bytes + HEADER_ALLOWANCE * (limits.max_files + 2), by_ratio)

    def exceed() -> None:
        if cap == by_ratio:
            writer.stop(f"expands more than {limits.max_ratio:g} times its size (packs.max_ratio)")
        writer.stop(f"expands beyond {limits.max_bytes / 1e6:g} MB (packs.max_mb)")

    try:
        with gzip.open(source, "rb") as raw:
            stream = _Bounded(raw, cap, exceed)
            # Stream mode: one pass, each header checked before its data is read.
            with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
                for member in tar:
                    _tar_member(tar, member, writer)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        writer.stop(f"is not a readable .tar.gz ({exc})")


def _tar_member(tar: tarfile.TarFile, member: tarfile.TarInfo, writer: _Writer) -> None:
    name = member.name
    if member.issym():
        writer.refuse(name, f"is a symlink (to {member.linkname!r}); a pack holds only files and folders")
    elif member.islnk():
        writer.refuse(name, f"is a hard link (to {member.linkname!r}); a pack holds only files and folders")
    elif member.ischr() or member.isblk() or member.isfifo():
        writer.refuse(name, "is a device file or fifo (a pack holds only files and folders)")
    elif member.isdir():
        path = writer.admit(name, -1)
        if path is not None:
            writer.folder(path)
    elif member.isreg():
        path = writer.admit(name, member.size)
        if path is None:
            return
        target = writer.target(path)
        if target.exists():
            writer.refuse(name, "clashes with another member of the same name")
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        member.name = path.as_posix()  # the checked name; "data" checks it once more
        try:
            tar.extract(member, writer.root, filter="data")
        except tarfile.FilterError as exc:
            writer.refuse(name, f"refused by tarfile's data filter ({exc})")
        except (NotADirectoryError, IsADirectoryError):
            writer.refuse(name, "clashes with another member of the same name")
    else:
        writer.refuse(name, "is not a regular file or folder")


def _unzip(source: Path, writer: _Writer) -> None:
    limits = writer.limits
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
            if len(infos) > limits.max_files:
                writer.stop(f"holds more than {limits.max_files} files and folders (packs.max_files)")
            total = sum(info.file_size for info in infos)
            if total > limits.max_bytes:
                writer.stop(f"expands beyond {limits.max_bytes / 1e6:g} MB (packs.max_mb)")
            if total > max(source.stat().st_size, 1) * limits.max_ratio:
                writer.stop(f"expands more than {limits.max_ratio:g} times its size (packs.max_ratio)")
            for info in infos:
                _zip_member(archive, info, writer)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        writer.stop(f"is not a readable .zip ({exc})")


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, writer: _Writer) -> None:
    name = info.filename
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        writer.refuse(name, "is a symlink (a pack holds only files and folders)")
    elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        writer.refuse(name, "is a device file, fifo or socket (a pack holds only files and folders)")
    elif info.flag_bits & 0x1:
        writer.refuse(name, "is encrypted")
    elif info.is_dir():
        path = writer.admit(name, -1)
        if path is not None:
            writer.folder(path)
    else:
        path = writer.admit(name, info.file_size)
        if path is not None:
            with archive.open(info) as data:  # yields at most file_size bytes, checks the CRC
                writer.file(name, path, data, info.file_size)
