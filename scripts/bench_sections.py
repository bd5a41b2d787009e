"""Marked sections of docs/benchmarks.md, each owned by one bench script.

``scripts/bench.py`` writes the file's head; every other bench script (``bench_sampled.py``,
``bench_credentials.py`` ...) keeps its figures between ``<!-- NAME -->`` and ``<!-- /NAME -->``,
replaced in place when it runs again, and kept when bench.py rewrites the head.
"""

from __future__ import annotations

import re
from pathlib import Path

_SECTION = re.compile(r"<!-- (bench_[a-z_]+) -->.*?<!-- /\1 -->", re.S)


def marked(name: str, body: str) -> str:
    """``body`` between the markers of section ``name``."""
    return f"<!-- {name} -->\n{body.strip()}\n<!-- /{name} -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Put section ``name`` into the file at ``path``, replacing its old figures."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = marked(name, body)
    pattern = re.compile(re.escape(f"<!-- {name} -->") + ".*?" + re.escape(f"<!-- /{name} -->"), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def kept_sections(path: Path) -> list[str]:
    """Every marked section the file holds now (bench.py carries them over when it rewrites)."""
    return [m.group(0) for m in _SECTION.finditer(path.read_text())] if path.exists() else []
