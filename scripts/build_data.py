#!/usr/bin/env python3
"""Build the training data: every source in the manifest -> ``<out>/pieces.jsonl`` + ``build.json``.

    python scripts/build_data.py [--sources models/sources.toml] [--out .cache/data/default]
                                 [--limit N] [--workers 2] [--cache .cache]

Deterministic: the same sources and code give the same bytes. Each source file's extraction
is cached under ``<cache>/files/`` (keyed by path, file contents and code version), so a
re-run only parses what changed; music21's scratch directory is ``<cache>/music21``.
A source without a licence, consent or terms_checked entry stops the build before anything
is read or written (exit status 2). Needs the ``train`` extra (music21).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.training.sources import DEFAULT_MANIFEST, ManifestError, load_manifest  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sources", type=Path, default=DEFAULT_MANIFEST, help="sources manifest (TOML)")
    ap.add_argument("--out", type=Path, default=ROOT / ".cache" / "data" / "default", help="output folder")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache", help="cache folder (per-file results)")
    ap.add_argument("--limit", type=int, default=None, help="at most N files per source (an ABC book is one)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be at least 1")
    if args.workers < 1:
        ap.error("--workers must be at least 1")

    try:
        sources = load_manifest(args.sources)
    except ManifestError as e:
        print(f"build_data: {e}", file=sys.stderr)
        return 2

    from edge.training.build import build, format_report

    report = build(sources, args.out, args.cache, limit=args.limit, workers=args.workers)
    print(format_report(report))
    print(f"train {report['train']}, held-out {report['heldout']}; {report['wall_s']} s")
    print(f"wrote {args.out / 'pieces.jsonl'} (sha256 {report['pieces_sha256'][:16]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
