"""A piano roll of arranged bars: lead, bass, and the chords as a band, with chord names and sections.

What scripts/eval_models.py draws for each style and tier (docs/img/pianoroll_<style>_<tier>.png),
so a reader can *see* whether the harmony moves and the melody has a shape. Drums are left out.
matplotlib is an optional extra (``pip install -e '.[eval]'``) and is imported inside
``draw_pianoroll`` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge.music.events import Bar

NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
#: How each chord quality is written after its root (Cmaj7, Am, G7, Bm7b5 ...).
SUFFIX = {
    "maj": "", "min": "m", "dim": "dim", "aug": "aug", "sus2": "sus2", "sus4": "sus4",
    "maj7": "maj7", "min7": "m7", "dom7": "7", "m7b5": "m7b5", "add9": "add9", "madd9": "m(add9)",
    "maj9": "maj9", "min9": "m9", "power": "5",
}  # fmt: skip
COLOURS = {"lead": "#d9480f", "bass": "#1c7ed6", "chords": "#2f9e44"}


def chord_name(root: int, quality: str) -> str:
    """A chord as a lead sheet writes it: ``chord_name(9, "min")`` is ``Am``."""
    return NAMES[root % 12] + SUFFIX.get(quality, quality)


def draw_pianoroll(
    bars: Sequence[Bar],
    path: Path,
    title: str = "",
    size: tuple[float, float] = (10.0, 3.0),
    dpi: int = 80,
) -> Path:
    """Draw ``bars`` (arranged: lead, bass, pad/keys) as a piano roll into the PNG file ``path``.

    Lead and bass notes are bars of their colour; each chord is a band over the pitches its pad
    (or keys) voicing spans; bar lines are grey, the chord names sit under each bar and a section's
    name over the bar it starts on. Returns ``path``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import blended_transform_factory

    fig, ax = plt.subplots(figsize=size, dpi=dpi)
    below = blended_transform_factory(ax.transData, ax.transAxes)
    pitches: list[int] = []
    start = 0.0
    section = None
    for bar in bars:
        beats = bar.plan.beats
        voiced = [n for n in bar.notes if n.track in ("pad", "keys")]
        names = []
        for chord in bar.chords:
            end = chord.onset + chord.duration
            voicing = [n.pitch for n in voiced if chord.onset - 1e-6 <= n.onset < end - 1e-6]
            if voicing:
                low, high = min(voicing), max(voicing)
                pitches += [low, high]
                ax.add_patch(
                    Rectangle(
                        (start + chord.onset, low - 0.5), min(end, beats) - chord.onset, high - low + 1,
                        color=COLOURS["chords"], alpha=0.18, linewidth=0,
                    )
                )  # fmt: skip
            name = chord_name(chord.root, chord.quality)
            if not names or names[-1][1] != name:
                names.append((chord.onset, name))
        for onset, name in names:
            ax.text(start + onset + 0.1, -0.02, name, transform=below, fontsize=6, va="top", ha="left")
        for track in ("bass", "lead"):
            for note in bar.track(track):
                length = max(0.1, min(note.duration, beats - note.onset))
                pitches.append(note.pitch)
                ax.add_patch(
                    Rectangle(
                        (start + note.onset, note.pitch - 0.4), length, 0.8,
                        color=COLOURS[track], linewidth=0,
                    )
                )  # fmt: skip
        if bar.plan.section != section:
            section = bar.plan.section
            ax.text(start + 0.1, 1.01, section, transform=below, fontsize=7, va="bottom", ha="left")
        ax.axvline(start, color="#adb5bd", linewidth=0.6)
        start += beats
    low, high = (min(pitches), max(pitches)) if pitches else (48, 72)
    ax.set_xlim(0, max(start, 1.0))
    ax.set_ylim(low - 1.5, high + 1.5)
    ax.set_xticks([])
    octaves = range((low // 12) * 12, high + 1, 12)
    ax.set_yticks(list(octaves), [f"C{p // 12 - 1}" for p in octaves], fontsize=6)
    ax.tick_params(axis="y", length=2)
    legend = "lead (orange), bass (blue), chord voicings (green band)"
    fig.text(0.04, 0.98, f"{title}: {legend}" if title else legend, fontsize=7, va="top", ha="left")
    fig.subplots_adjust(left=0.04, right=0.995, top=0.84, bottom=0.1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
