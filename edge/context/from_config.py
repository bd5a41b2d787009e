"""The starting context: the config's [music] section, with command-line overrides."""

from __future__ import annotations

from edge.config import Config
from edge.context.context import Context, check_activity, check_unit, parse_key, parse_mood


def context_from(config: Config, **overrides: object) -> Context:
    """The starting context from the config's [music] section, with CLI overrides."""
    music = config.music
    mood_text = str(overrides.get("mood") or music.mood)
    mood, valence, arousal = parse_mood(mood_text)
    activity = check_activity(str(overrides.get("activity") or music.activity))
    energy = overrides.get("energy")
    energy = check_unit("energy", float(energy), 0, 1) if energy is not None else music.energy
    tempo = overrides.get("tempo")
    tempo = float(tempo) if tempo is not None else (music.tempo or None)
    if tempo is not None:
        check_unit("tempo", tempo, 40, 240)
    key = parse_key(str(overrides.get("key") or music.key))
    style = str(overrides.get("style") or music.style)
    return Context(
        valence=valence,
        arousal=arousal,
        mood=mood,
        activity=activity,
        energy=energy,
        tempo=tempo,
        key=key,
        style=style,
        meter=music.meter,
    )
