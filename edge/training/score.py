"""The structure of a music21 score: the parts' roles, the measures, the key and the pickups.

Which part is the melody, which the bass and which make the harmony; the key of the piece; and
where a short measure's notes sit in their bar. music21 is imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass


class Skip(Exception):
    """A piece that is left out; ``reason`` is a short category, ``detail`` the specifics."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


VOICE_NAMES = ("soprano", "alto", "tenor", "bass")


def _part_name(part) -> str:
    """First word of a part's name, lower case ('soprano 1' -> 'soprano')."""
    name = part.partName or (part.id if isinstance(part.id, str) else "") or ""
    words = name.lower().split()
    return words[0] if words else ""


def _pitched_parts(score) -> list:
    from music21 import chord, note

    parts = []
    for part in score.parts:
        pitches = [
            p.midi
            for el in part.recurse().notes
            if isinstance(el, (note.Note, chord.Chord))
            for p in el.pitches
        ]
        if pitches:
            parts.append((sum(pitches) / len(pitches), part))
    return parts


@dataclass
class Roles:
    melody: object
    bass: object | None
    harmony: list
    """Parts whose notes make the chords; empty: chords from the melody (or chord symbols)."""
    single: bool = False
    """One polyphonic part: the bass is what sounds under the melody in it."""


def roles_of(score, mode: str) -> Roles:
    parts = list(score.parts)
    if not parts:
        raise Skip("no notes", "no parts")
    if mode == "tune":  # the tune is the voice with the most notes (an ABC V:2 may hold only rests)
        return Roles(max(parts, key=lambda p: len(p.recurse().notes)), None, [])
    names = [_part_name(p) for p in parts]
    sop = next((i for i, n in enumerate(names) if n == "soprano"), None)
    bas = next((i for i, n in enumerate(names) if n == "bass" and (sop is None or i > sop)), None)
    if sop is not None and bas is not None:
        voices = [p for p, n in zip(parts, names, strict=True) if n in VOICE_NAMES]
        return Roles(parts[sop], parts[bas], voices)
    if mode == "satb" and len(parts) >= 2:
        return Roles(parts[0], parts[-1], parts)
    pitched = _pitched_parts(score)
    if not pitched:
        raise Skip("no notes", "no pitched parts")
    if len(pitched) == 1:
        part = pitched[0][1]
        return Roles(part, part, [part], single=True)
    hi = max(pitched, key=lambda mp: mp[0])[1]
    lo = min(pitched, key=lambda mp: mp[0])[1]
    return Roles(hi, lo, [p for _, p in pitched])


def measures_of(part) -> list:
    from music21 import stream

    return list(part.getElementsByClass(stream.Measure))


def _third_mode(k) -> str:
    """'major' or 'minor' for any music21 Key, modes mapped by their third (dorian -> minor)."""
    if k.mode in ("major", "minor"):
        return k.mode
    return "minor" if (k.pitchFromDegree(3).pitchClass - k.tonic.pitchClass) % 12 == 3 else "major"


def key_of(score, tune=None) -> tuple[int, str]:
    """(tonic pitch class, 'major' | 'minor') of a piece.

    music21's ``analyze('key')`` (Aarden-Essen key profiles), computed without the 23
    alternative Key objects that cost three quarters of the extraction time. For a folk tune
    (``tune``: its melody part) the written key (ABC ``K:``, modes mapped by their third) is
    used instead when the tune ends on its tonic: on the folk collections the profile often
    names the relative or subdominant key of a tune that is plainly in its written key.
    """
    from music21 import analysis, chord, key, note

    if tune is not None:
        written = next(iter(tune.recurse().getElementsByClass(key.Key)), None)
        notes = tune.recurse().notes
        last = [n for n in notes if isinstance(n, (note.Note, chord.Chord)) and n.quarterLength]
        if written is not None and last and max(last[-1].pitches).pitchClass == written.tonic.pitchClass:
            return written.tonic.pitchClass, _third_mode(written)
    (tonic, mode, _), _ = analysis.discrete.AardenEssen().process(score)
    return tonic.pitchClass, mode if mode in ("major", "minor") else "major"


def pickup_shifts(measures: list, bar_qls: list[float | None]) -> list[float]:
    """Quarter-note offset of each measure's first beat of notes inside its bar.

    A short measure is a pickup (its notes sit at the end of the bar) when music21 gives it a
    left padding, when it opens the piece, when it opens a section (a repeat sign or a special
    bar line before it), or when it completes the short measure before it (ABC's split bars).
    """
    shifts = [0.0] * len(measures)
    right_aligned = [False] * len(measures)
    for i, m in enumerate(measures):
        bar = bar_qls[i]
        if bar is None:
            continue
        dur = float(m.duration.quarterLength)
        if dur >= bar - 1e-6:
            continue
        pad = float(m.paddingLeft or 0.0)
        pickup = pad > 0
        if not pickup and i == 0:
            pickup = True
        elif not pickup and i + 1 < len(measures):
            prev = measures[i - 1]
            prev_dur = float(prev.duration.quarterLength)
            section = m.leftBarline is not None or prev.rightBarline is not None
            completes = (
                bar_qls[i - 1] == bar
                and prev_dur < bar - 1e-6
                and not right_aligned[i - 1]
                and abs(prev_dur + dur - bar) < 1e-6
            )
            pickup = section or completes
        if pickup:
            shifts[i] = pad if pad > 0 else bar - dur
            right_aligned[i] = True
    return shifts
