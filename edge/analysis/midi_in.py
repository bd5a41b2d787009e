"""A standard MIDI file read into notes with beats and seconds, with the work capped.

mido parses the bytes. Before it does, this module checks what it is given: the size (at most
``MAX_FILE_BYTES``), the header, and each chunk's declared length against the bytes that are
really there, so a truncated or hostile file is refused with one line naming the file and the
problem (``AnalysisError``) and never costs more than a bounded parse. After the parse it caps the
events (``MAX_EVENTS``) and the length (``MAX_BEATS``), and refuses tempos no music uses
(outside ``MIN_BPM``..``MAX_BPM``) instead of stretching the piece to years or to nothing.

Times are counted in quarter notes ("beats" as MIDI counts them, from the file's ticks) and in
seconds through the tempo map. Type 0 files are split into parts by channel, type 1 files by
track and channel.
"""

from __future__ import annotations

import bisect
import io
import struct
from collections import deque
from pathlib import Path

import mido

from edge.analysis.score import KeySignature, Meter, Note, Part, Score, Tempo
from edge.exits import UsageError

MAX_FILE_BYTES = 1 << 20
"""The largest file analysed (1 MiB: most MIDI files are well under 200 kB; mido parses about a
byte every 2 µs on a desktop core, several times slower on a Pi)."""
MAX_EVENTS = 250_000
"""The most MIDI events (notes on and off, controllers, meta) analysed in one file."""
MAX_BEATS = 20_000
"""The longest piece analysed, in quarter notes (over 2 hours at 150 BPM)."""
MIN_BPM, MAX_BPM = 10.0, 1000.0
"""Tempos outside this range (in quarter notes a minute) are refused, not honoured."""
DEFAULT_TEMPO = 500_000
"""µs per quarter note when a file sets none (120 BPM, as the standard says)."""

NOT_YET = {
    ".wav": "WAV audio", ".flac": "FLAC audio", ".mp3": "MP3 audio", ".ogg": "Ogg audio",
    ".opus": "Opus audio", ".m4a": "AAC audio", ".aif": "AIFF audio", ".aiff": "AIFF audio",
}  # fmt: skip
"""File suffixes of inputs the analysis does not read yet, and what to call them."""
_MAGIC = (
    (b"fLaC", "FLAC audio"), (b"OggS", "Ogg audio"), (b"ID3", "MP3 audio"), (b"FORM", "AIFF audio"),
)  # fmt: skip
_SCORE_MAGIC = ((b"<?xml", "MusicXML", ".musicxml"), (b"PK\x03\x04", "a zip archive (MusicXML?)", ".mxl"),
                (b"X:", "ABC notation", ".abc"))  # fmt: skip


class AnalysisError(UsageError):
    """The input cannot be analysed. ``str()`` is one line: the file, then the problem."""


def read_midi(path: str | Path) -> Score:
    """Read ``path``; raises AnalysisError (one line naming the file) for anything not analysable."""
    name = str(path).encode("utf-8", "backslashreplace").decode("utf-8")  # printable, whatever its bytes
    data = _read_bytes(str(path), name)
    data = _midi_bytes(name, data)
    midi_type, division, chunks, warnings = _chunks(name, data)
    tracks = _parse(name, chunks)
    return _score(name, midi_type, division, tracks, warnings)


def _fail(path: str, problem: str) -> AnalysisError:
    return AnalysisError(f"{path}: {problem}")


def _read_bytes(real: str, path: str) -> bytes:
    suffix = Path(real).suffix.lower()
    try:
        with open(real, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise _fail(path, f"cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if suffix in NOT_YET:
        raise _fail(path, f"{NOT_YET[suffix]} input is not supported yet (MIDI files only for now)")
    if not data:
        raise _fail(path, "empty file (0 bytes), not a MIDI file")
    if len(data) > MAX_FILE_BYTES:
        raise _fail(path, f"larger than the {MAX_FILE_BYTES // 1024} kB the analysis reads")
    return data


def _midi_bytes(path: str, data: bytes) -> bytes:
    """The standard MIDI file inside ``data`` (a RIFF RMID wraps one); else a one-line refusal."""
    if data[:4] == b"RIFF" and data[8:12] == b"RMID":
        start = data.find(b"MThd", 12)
        if start < 0:
            raise _fail(path, "RIFF MIDI file without a MIDI header (MThd)")
        return data[start:]
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        raise _fail(path, "WAV audio input is not supported yet (MIDI files only for now)")
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise _fail(path, f"{what} input is not supported yet (MIDI files only for now)")
    for magic, what, suffix in _SCORE_MAGIC:
        if data.startswith(magic):
            raise _fail(path, f"{what}, not MIDI: name the file {suffix} to read it as a score")
    if data[:4] != b"MThd":
        raise _fail(path, "not a MIDI file (it does not start with the MThd header)")
    return data


def _chunks(path: str, data: bytes) -> tuple[int, int, list[bytes], list[str]]:
    """(type, ticks per beat, the MTrk chunks' bytes, warnings), every length checked."""
    (header_size,) = struct.unpack(">L", data[4:8]) if len(data) >= 8 else (0,)
    if len(data) < 14 or header_size < 6:
        raise _fail(path, "corrupt MIDI: the header is cut short")
    if 8 + header_size > len(data):
        raise _fail(path, f"corrupt MIDI: the header declares {header_size} bytes, the file is shorter")
    midi_type, declared, division = struct.unpack(">HHh", data[8:14])
    if midi_type == 2:
        raise _fail(path, "MIDI type 2 (independent patterns) is not supported, only types 0 and 1")
    if midi_type > 2:
        raise _fail(path, f"corrupt MIDI: unknown file type {midi_type}")
    if division < 0:
        raise _fail(path, "MIDI files timed in SMPTE frames are not supported, only ticks per beat")
    if division == 0:
        raise _fail(path, "corrupt MIDI: 0 ticks per beat")
    chunks: list[bytes] = []
    position = 8 + header_size
    while position + 8 <= len(data) and len(chunks) < declared:
        kind, size = struct.unpack(">4sL", data[position : position + 8])
        end = position + 8 + size
        if end > len(data):
            remain = len(data) - position - 8
            raise _fail(
                path, f"truncated MIDI: track {len(chunks) + 1} declares {size} bytes, {remain} remain"
            )
        if kind == b"MTrk":
            chunks.append(data[position + 8 : end])
        position = end
    warnings = []
    if not chunks:
        raise _fail(path, "empty MIDI: no tracks")
    if len(chunks) < declared:
        warnings.append(f"the header declares {declared} tracks, the file holds {len(chunks)}")
    return midi_type, division, chunks, warnings


def _parse(path: str, chunks: list[bytes]) -> list[mido.MidiTrack]:
    """Each chunk parsed on its own, so an error names its track and cannot read into the next."""
    tracks = []
    events = 0
    for index, chunk in enumerate(chunks):
        one = b"MThd" + struct.pack(">LHHH", 6, 0, 1, 96) + b"MTrk" + struct.pack(">L", len(chunk)) + chunk
        try:
            track = mido.MidiFile(file=io.BytesIO(one)).tracks[0]
        except EOFError:
            raise _fail(path, f"corrupt MIDI: track {index + 1} ends inside a message") from None
        except Exception as exc:  # mido raises several kinds on bad bytes; all mean the same here
            raise _fail(path, f"corrupt MIDI: track {index + 1}: {_reason(exc)}") from None
        events += len(track)
        if events > MAX_EVENTS:
            raise _fail(path, f"more than {MAX_EVENTS} MIDI events, more than the analysis takes")
        tracks.append(track)
    return tracks


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:120] or type(exc).__name__


def _score(
    path: str, midi_type: int, division: int, tracks: list[mido.MidiTrack], warnings: list[str]
) -> Score:
    limit = MAX_BEATS * division
    tempo_events: list[tuple[int, int, int]] = []  # (tick, order, µs per beat)
    meter_events: list[tuple[int, int, int]] = []
    key_events: list[tuple[int, str]] = []
    raw: list[tuple[int, int, int, int, tuple[int, int]]] = []  # (start, end, pitch, velocity, part key)
    part_names: dict[int, str] = {}
    programs: dict[tuple[int, int], int] = {}
    order = 0
    for index, track in enumerate(tracks):
        tick = 0
        sounding: dict[tuple[int, int], deque[tuple[int, int]]] = {}
        for msg in track:
            tick += msg.time
            if tick > limit:
                raise _fail(path, f"longer than {MAX_BEATS} beats, more than the analysis takes")
            kind = msg.type
            if kind == "note_on" and msg.velocity > 0:
                sounding.setdefault((msg.channel, msg.note), deque()).append((tick, msg.velocity))
            elif kind in ("note_off", "note_on"):
                started = sounding.get((msg.channel, msg.note))
                if started:
                    begin, velocity = started.popleft()
                    raw.append((begin, tick, msg.note, velocity, (index, msg.channel)))
            elif kind == "set_tempo":
                bpm = 60e6 / msg.tempo if msg.tempo else float("inf")
                if not MIN_BPM <= bpm <= MAX_BPM:
                    raise _fail(
                        path,
                        f"tempo {msg.tempo} µs per beat at beat {tick / division:g} ({bpm:.3g} BPM) "
                        f"is outside {MIN_BPM:g}-{MAX_BPM:g} BPM",
                    )
                order += 1
                tempo_events.append((tick, order, msg.tempo))
            elif kind == "time_signature":
                if 1 <= msg.numerator <= 64 and msg.denominator in (1, 2, 4, 8, 16, 32):
                    meter_events.append((tick, msg.numerator, msg.denominator))
                else:
                    warnings.append(f"ignored the time signature {msg.numerator}/{msg.denominator}")
            elif kind == "key_signature":
                key_events.append((tick, msg.key))
            elif kind == "track_name" and index not in part_names:
                part_names[index] = msg.name.strip()
            elif kind == "program_change":
                programs.setdefault((index, msg.channel), msg.program)
        for (channel, pitch), started in sounding.items():  # never released: held to the track's end
            for begin, velocity in started:
                raw.append((begin, tick, pitch, velocity, (index, channel)))
    if not raw:
        raise _fail(path, "empty MIDI: no notes")
    tempo_events.sort()
    tempos = _tempo_map(tempo_events, division)
    keys = sorted({key for *_, key in raw})
    parts = tuple(
        Part(part_names.get(track, ""), track, channel, programs.get((track, channel), 0))
        for track, channel in keys
    )
    part_index = {key: i for i, key in enumerate(keys)}
    starts = [t.beat for t in tempos]

    def seconds(beat: float) -> float:
        tempo = tempos[max(0, bisect.bisect_right(starts, beat) - 1)]
        return tempo.seconds + (beat - tempo.beat) * 60.0 / tempo.bpm

    notes = []
    for begin, finish, pitch, velocity, key in sorted(raw, key=lambda r: (r[0], r[2], r[1], r[4])):
        start, end = begin / division, finish / division
        notes.append(Note(pitch, velocity, start, end, seconds(start), seconds(end), part_index[key]))
    meters = _meters(meter_events, division)
    key_signatures = tuple(KeySignature(tick / division, key) for tick, key in sorted(key_events))
    return Score(
        path=path,
        midi_type=midi_type,
        tracks=len(tracks),
        ticks_per_beat=division,
        parts=parts,
        notes=tuple(notes),
        tempos=tempos,
        meters=meters,
        key_signatures=key_signatures,
        end=max(n.end for n in notes),
        tempo_declared=bool(tempo_events),
        warnings=tuple(warnings),
    )


def _tempo_map(events: list[tuple[int, int, int]], division: int) -> tuple[Tempo, ...]:
    """Tempo events (several at one tick: the last wins) as a map starting at beat 0."""
    at_tick: dict[int, int] = {0: DEFAULT_TEMPO}
    for tick, _, tempo in events:
        at_tick[tick] = tempo
    tempos: list[Tempo] = []
    for tick in sorted(at_tick):
        beat, bpm = tick / division, 60e6 / at_tick[tick]
        if not tempos:
            tempos.append(Tempo(beat, 0.0, bpm))
        elif tempos[-1].bpm != bpm:
            last = tempos[-1]
            tempos.append(Tempo(beat, last.seconds + (beat - last.beat) * 60.0 / last.bpm, bpm))
    return tuple(tempos)


def _meters(events: list[tuple[int, int, int]], division: int) -> tuple[Meter, ...]:
    at_tick: dict[int, tuple[int, int]] = {0: (4, 4)}
    for tick, numerator, denominator in sorted(events):
        at_tick[tick] = (numerator, denominator)
    meters: list[Meter] = []
    for tick in sorted(at_tick):
        numerator, denominator = at_tick[tick]
        if meters and (meters[-1].numerator, meters[-1].denominator) == (numerator, denominator):
            continue
        meters.append(Meter(tick / division, numerator, denominator))
    return tuple(meters)
