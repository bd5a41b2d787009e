"""The training-data build: the files of each source, the per-file cache, the worker processes, the
de-duplicated and split ``pieces.jsonl`` with its ``build.json``, and the printed report."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from edge.training.corpus import MIDI_SUFFIXES, FileTask, configure_music21, extract_file
from edge.training.sources import Source

CODE_FILES = ("build.py", "corpus.py", "score.py", "notes.py", "chords.py")
"""The builder's modules (in edge/training/): what a piece holds depends on all of them."""


def _code_version() -> str:
    digest = hashlib.sha256()
    for name in CODE_FILES:
        digest.update(name.encode() + b"\0" + Path(__file__).with_name(name).read_bytes())
    return digest.hexdigest()[:12]


CODE_VERSION = _code_version()
"""Changes whenever one of CODE_FILES changes, so cached per-file results are rebuilt."""

BACH_EXCLUDED = {"bwv846": "not a chorale (Well-Tempered Clavier prelude)"}
KRN_EXCLUDED = "Humdrum encoding: 'Rights to all derivative electronic formats reserved'"
NUMBERED_COLLECTIONS = {"oneills1850"}
"""ABC collections whose X: numbers are catalogue numbers: one tune kept per number."""

SCORE_SUFFIXES = {".abc", ".mxl", ".xml", ".musicxml", ".krn", ".mid", ".midi"}


def source_files(src: Source, limit: int | None = None) -> tuple[list[FileTask], list[tuple[str, str]]]:
    """The files of a source in a fixed order, and the (id, reason) of files left out."""
    folder = src.folder()
    tasks: list[FileTask] = []
    excluded: list[tuple[str, str]] = []
    paths = sorted(
        (p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix()
    )
    label = src.path if src.kind == "music21" else src.name
    for p in paths:
        rel = p.relative_to(folder)
        suffix = p.suffix.lower()
        if src.kind == "midi" and suffix not in MIDI_SUFFIXES:
            continue
        if src.kind == "music21" and suffix not in SCORE_SUFFIXES:
            continue
        id_base = f"{label}/{rel.with_suffix('').as_posix()}"
        if src.kind == "music21" and suffix == ".krn":
            excluded.append((id_base, KRN_EXCLUDED))
            continue
        if src.kind == "music21" and Path(src.path).name == "bach":
            if len(rel.parts) > 1 or not p.name.startswith("bwv"):
                continue  # choraleAnalyses/ (Roman-numeral text files), not music
            if p.stem in BACH_EXCLUDED:
                excluded.append((id_base, BACH_EXCLUDED[p.stem]))
                continue
        mode = "tune" if suffix == ".abc" else "satb" if Path(src.path).name == "bach" else "auto"
        tasks.append(FileTask(src.name, src.tag, str(p), id_base, mode))
    if limit is not None:
        tasks = tasks[:limit]
    return tasks, excluded


# --------------------------------------------------------------------------------------------------
# The build


def split_of(piece_id: str) -> str:
    """'heldout' for a fixed tenth of pieces (sha256 of the id mod 10 == 0), else 'train'."""
    digest = hashlib.sha256(piece_id.encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest, "big") % 10 == 0 else "train"


def _cache_path(cache_dir: Path, task: FileTask) -> Path:
    content = hashlib.sha256(Path(task.path).read_bytes()).hexdigest()
    key = json.dumps([CODE_VERSION, task.path, content, task.source, task.tag, task.id_base, task.mode])
    return cache_dir / "files" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _init_worker(cache_dir: str) -> None:
    configure_music21(cache_dir)


def _run_task(task: FileTask) -> tuple[FileTask, dict, float]:
    t0 = time.perf_counter()
    result = extract_file(task)
    return task, result, time.perf_counter() - t0


def _run_all(tasks: list[FileTask], cache_dir: Path, workers: int) -> Iterable[tuple[FileTask, dict, float]]:
    if workers <= 1 or len(tasks) <= 1:
        _init_worker(str(cache_dir))
        for t in tasks:
            yield _run_task(t)
        return
    import multiprocessing as mp

    # Biggest files first so the two workers finish together.
    order = sorted(tasks, key=lambda t: (-os.path.getsize(t.path), t.path))
    with mp.get_context("spawn").Pool(workers, _init_worker, (str(cache_dir),)) as pool:
        yield from pool.imap_unordered(_run_task, order, chunksize=1)


def _write_if_changed(path: Path, data: bytes) -> None:
    """Atomic write; an unchanged file is left alone so caches keyed on its mtime stay valid."""
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _content_key(piece: dict) -> str:
    return hashlib.sha256(json.dumps(piece["bars"], separators=(",", ":")).encode()).hexdigest()


def build(
    sources: list[Source],
    out_dir: Path,
    cache_dir: Path,
    limit: int | None = None,
    workers: int = 2,
    echo: Callable[[str], None] = print,
) -> dict:
    """Extract every source, write ``pieces.jsonl`` and ``build.json`` under ``out_dir``; the report."""
    from importlib.metadata import version

    t0 = time.perf_counter()
    cache_dir = Path(cache_dir)
    all_tasks: list[FileTask] = []
    excluded: dict[str, list[tuple[str, str]]] = {}
    for src in sources:
        tasks, excl = source_files(src, limit)
        all_tasks += tasks
        excluded[src.name] = excl
    results: dict[str, dict] = {}
    todo: list[tuple[FileTask, Path]] = []
    for t in all_tasks:
        cp = _cache_path(cache_dir, t)
        if cp.exists():
            results[t.path] = json.loads(cp.read_text())
        else:
            todo.append((t, cp))
    echo(f"{len(all_tasks)} files: {len(all_tasks) - len(todo)} cached, {len(todo)} to extract")
    cache_of = {t.path: cp for t, cp in todo}
    (cache_dir / "files").mkdir(parents=True, exist_ok=True)
    for done, (task, result, secs) in enumerate(_run_all([t for t, _ in todo], cache_dir, workers), 1):
        results[task.path] = result
        cp = cache_of[task.path]
        tmp = cp.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, separators=(",", ":")))
        tmp.replace(cp)
        if secs > 20 or done % 200 == 0:
            echo(f"  {done}/{len(todo)} {task.id_base} ({secs:.1f} s)")

    # Assemble, de-duplicate, split.
    pieces: list[dict] = []
    skipped: list[list[str]] = []
    bars_skipped: dict[str, Counter] = {s.name: Counter() for s in sources}
    for t in all_tasks:
        r = results[t.path]
        pieces += r["pieces"]
        skipped += [[t.source, *s] for s in r["skipped"]]
        bars_skipped[t.source].update(r["bars_skipped"])
    pieces.sort(key=lambda p: p["id"])
    numbered: dict[tuple[str, str], str] = {}
    seen: dict[str, str] = {}
    kept: list[dict] = []
    for p in pieces:
        folder, _, number = p["id"].partition("#")
        folder = folder.split("/")[0]
        if folder in NUMBERED_COLLECTIONS and number and not number.startswith("i"):
            first = numbered.setdefault((folder, number), p["id"])
            if first != p["id"]:
                skipped.append([p["source"], p["id"], "duplicate", f"tune number {number} as {first}"])
                continue
        ck = _content_key(p)
        first = seen.setdefault(ck, p["id"])
        if first != p["id"]:
            skipped.append([p["source"], p["id"], "duplicate", f"same notes as {first}"])
            continue
        kept.append(
            {
                "id": p["id"],
                "source": p["source"],
                "tag": p["tag"],
                "split": split_of(p["id"]),
                "key": p["key"],
                "mode": p["mode"],
                "bars": p["bars"],
            }
        )
    skipped.sort()

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    body = "".join(json.dumps(p, separators=(",", ":")) + "\n" for p in kept).encode("utf-8")
    _write_if_changed(out_dir / "pieces.jsonl", body)

    per_source = {}
    for src in sources:
        mine = [p for p in kept if p["source"] == src.name]
        reasons = Counter(s[2] for s in skipped if s[0] == src.name)
        per_source[src.name] = {
            "files": sum(1 for t in all_tasks if t.source == src.name),
            "files_excluded": len(excluded[src.name]),
            "pieces": len(mine),
            "bars": sum(len(p["bars"]) for p in mine),
            "train": sum(1 for p in mine if p["split"] == "train"),
            "heldout": sum(1 for p in mine if p["split"] == "heldout"),
            "skipped": dict(sorted(reasons.items())),
            "bars_skipped_meter": dict(sorted(bars_skipped[src.name].items())),
        }
    report = {
        "format": "edge-music pieces v1",
        "code_version": CODE_VERSION,
        "music21": version("music21"),
        "limit": limit,
        "pieces": len(kept),
        "bars": sum(len(p["bars"]) for p in kept),
        "train": sum(1 for p in kept if p["split"] == "train"),
        "heldout": sum(1 for p in kept if p["split"] == "heldout"),
        "per_source": per_source,
        "sources": [s.record() for s in sources],
        "excluded_files": sorted([name, *e] for name, ex in excluded.items() for e in ex),
        "skipped": skipped,
        "pieces_sha256": hashlib.sha256(body).hexdigest(),
    }
    text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
    _write_if_changed(out_dir / "build.json", text.encode("utf-8"))
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    return report


def format_report(report: dict) -> str:
    """The short human report the build prints."""
    lines = [f"{'source':<14}{'files':>7}{'pieces':>8}{'bars':>8}{'train':>7}{'held':>6}  skipped"]
    for name, s in report["per_source"].items():
        why = ", ".join(f"{n} {r}" for r, n in s["skipped"].items()) or "-"
        lines.append(
            f"{name:<14}{s['files']:>7}{s['pieces']:>8}{s['bars']:>8}{s['train']:>7}{s['heldout']:>6}  {why}"
        )
        if s["bars_skipped_meter"]:
            meters = ", ".join(f"{m} x{n}" for m, n in s["bars_skipped_meter"].items())
            lines.append(f"{'':<14}bars left out of kept pieces (meter): {meters}")
        if s["files_excluded"]:
            lines.append(f"{'':<14}files excluded: {s['files_excluded']}")
    lines.append(
        f"{'total':<14}{'':>7}{report['pieces']:>8}{report['bars']:>8}{report['train']:>7}{report['heldout']:>6}"
    )
    unsupported = Counter()
    for s in report["skipped"]:
        unsupported[s[2]] += 1
    if unsupported:
        lines.append("skipped pieces: " + ", ".join(f"{r}: {n}" for r, n in sorted(unsupported.items())))
    return "\n".join(lines)
