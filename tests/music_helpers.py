"""Small builders shared by the music tests."""

import dataclasses

import numpy as np

from edge.context.context import Context
from edge.generator import tokens as T
from edge.generator.procedural import ProceduralGenerator
from edge.music.arranger import Arranger
from edge.music.conductor import Conductor
from edge.music.style import StyleLibrary

STYLE_ACTIVITY = {"ambient": "sleep", "focus": "focus", "workout": "workout", "house": "party"}


def library() -> StyleLibrary:
    return StyleLibrary()


def play_bars(styles, context, count, seed=1, changes=None):
    """Plan, generate and arrange ``count`` bars; ``changes`` maps bar index -> context fields."""
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    conductor = Conductor(rngs[0], context, styles.get(context.style))
    generator = ProceduralGenerator(rngs[1])
    arranger = Arranger(rngs[2])
    bars = []
    for index in range(count):
        if changes and index in changes:
            context = dataclasses.replace(context, **changes[index])
        style = styles.get(context.style)
        plan = conductor.next_plan(context, style)
        bars.append(arranger.arrange(generator.generate(plan, style), style))
    return bars


def default_context(style: str) -> Context:
    return Context(style=style, activity=STYLE_ACTIVITY.get(style, "focus"))


def token_bar(melody=(), bass=(), chords=(), meter="4/4") -> T.BarEvents:
    """A bar in the token view: (step, pitch, length) notes and one chord per beat."""
    return T.BarEvents(
        meter,
        tuple(T.NoteEvent(*n) for n in melody),
        tuple(T.NoteEvent(*n) for n in bass),
        tuple(chords),
    )
