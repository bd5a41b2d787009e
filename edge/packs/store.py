"""Installed packs: where they live, and installing, listing and removing them.

Installed packs live in ``[packs] dir`` (default ``$STATE_DIRECTORY/packs``), one folder
per pack. An install brings the pack into a fresh ``.incoming-*`` folder beside them,
checks it there, and only a good pack is renamed into place (one rename: the daemon
never sees half a pack). A lock file keeps two installs or removals from crossing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from edge.music.style import PACK_FILE, STYLES_DIR, StyleError, StylePack, load_pack
from edge.packs.archive import Limits, stage
from edge.packs.check import check_pack, find_root, name_problem
from edge.state import state_path

LOCK_FILE = ".lock"
INCOMING = ".incoming-"


class PackError(ValueError):
    """A pack was refused or a name is wrong; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class InstalledPack:
    """One folder in the packs directory, as ``pack list`` shows it."""

    name: str
    """The pack's name (its folder's)."""
    path: Path
    """Its folder."""
    pack: StylePack | None
    """The loaded style, or None when it no longer loads."""
    problem: str = ""
    """Why it does not load (the daemon leaves it out)."""


def packs_dir(configured: str = "") -> Path:
    """``[packs] dir``, or the ``packs`` folder of the state directory."""
    return state_path("packs", configured)


def builtin_names() -> tuple[str, ...]:
    """Names of the packs that ship with edge-music (an installed pack may not take one)."""
    return tuple(sorted(p.stem for p in STYLES_DIR.glob("*.toml")))


def inspect(source: str | Path, limits: Limits, into: Path) -> tuple[Path | None, str, list[str]]:
    """Stage ``source`` into the empty folder ``into`` and check it: (pack folder, name, problems)."""
    tree = into / "tree"
    tree.mkdir()
    staged = stage(source, tree, limits)
    if not staged.complete:
        return None, "", staged.problems
    root, name = find_root(tree)
    if root is None:
        return None, "", [*staged.problems, f"{Path(source).name}: {name}"]
    return root, name, [*staged.problems, *check_pack(root, name, builtin_names())]


def check_source(source: str | Path, limits: Limits) -> tuple[str, list[str]]:
    """The pack's name and its problems (one line each), without installing anything."""
    with tempfile.TemporaryDirectory(prefix="edge-music-pack-") as tmp:
        _, name, problems = inspect(source, limits, Path(tmp))
    return name, problems


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def install(source: str | Path, folder: Path, limits: Limits, force: bool = False) -> StylePack:
    """Check the pack at ``source`` and install it; raises PackError (nothing installed)."""
    with _locked(folder):
        for stale in folder.glob(INCOMING + "*"):  # left by an install that was killed
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=INCOMING, dir=folder))
        try:
            root, name, problems = inspect(source, limits, tmp)
            if problems or root is None:
                raise PackError(problems)
            try:
                pack = load_pack(root / PACK_FILE, name)
            except StyleError as exc:  # check_pack passed it: only a race could get here
                raise PackError([str(exc)]) from None
            target = folder / name
            if target.exists() or target.is_symlink():
                if not force:
                    raise PackError([f"{name}: already installed in {target}; add --force to replace it"])
                os.rename(target, tmp / "replaced")
            os.rename(root, target)
            return pack
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def installed(folder: Path) -> list[InstalledPack]:
    """Every installed pack, by name; one that no longer loads carries its problem."""
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except FileNotFoundError:
        return []
    builtin = builtin_names()
    result = []
    for entry in entries:
        if entry.name in builtin:
            result.append(InstalledPack(entry.name, entry, None, "takes the name of a built-in pack"))
            continue
        try:
            result.append(InstalledPack(entry.name, entry, load_pack(entry / PACK_FILE, entry.name)))
        except StyleError as exc:
            result.append(InstalledPack(entry.name, entry, None, str(exc)))
    return result


def remove(name: str, folder: Path) -> Path:
    """Remove the installed pack ``name``; its former folder. Raises PackError."""
    why = name_problem(name)
    if why:
        raise PackError([why])
    target = folder / name
    if not target.is_dir() or target.is_symlink():
        if name in builtin_names():
            raise PackError([f"{name}: is a built-in pack; only installed packs can be removed"])
        raise PackError([f"{name}: not installed in {folder}"])
    with _locked(folder):
        doomed = Path(tempfile.mkdtemp(prefix=INCOMING, dir=folder))
        os.rename(target, doomed / name)
        shutil.rmtree(doomed, ignore_errors=True)
    return target
