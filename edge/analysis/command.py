"""``edge-music analyze FILE [--json]``: what a MIDI file holds, as a summary or as JSON."""

from __future__ import annotations

from edge.analysis.analyse import analyse_file
from edge.analysis.summary import to_json, to_text
from edge.exits import EXIT_OK
from edge.outputs import write_stdout


def analyze_command(path: str, as_json: bool = False) -> int:
    """Analyse ``path`` and print the result; AnalysisError (exit 2) for input it cannot analyse."""
    analysis = analyse_file(path)
    write_stdout(to_json(analysis) if as_json else to_text(analysis))
    return EXIT_OK
