"""Tiers S, M and L: the trained transformer writes each bar, inside the style's hard limits.

For every bar the conductor's plan becomes the control tokens (meter, style
tag, key, mode, density, register, rhythm) and the chord tokens of its
harmonic plan, one per beat, which are fed as they are; the model then writes
melody and bass over them (a plan without chords lets the model choose them).
A phrase that returns (``A'``) replays the first half of its letter's melody,
so motifs come back, and a phrase's last melody note lands on its cadence
chord. Every sampled token passes
a mask first: the grammar of a bar, the scale of the plan, the melody and bass
registers and one note per track at a time. So nothing out of key or out of
range ever reaches the synth, whatever the model says. On top of the masks, soft
steers (edge/generator/steering.py) lean each melody pitch towards the phrase's
arch, the chord's tones on a beat and a step from the note before, without
changing whether a melody note is written.

The KV cache is carried from bar to bar; when the context fills, the model is
re-primed with the most recent bars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from edge.generator import tokens as T
from edge.generator.base import keep_given_melody
from edge.generator.grammar import GivenMelody, Grammar, given_notes, mask, melody_budget
from edge.generator.phrasing import (
    PhraseMemory,
    cadence_note,
    chord_tone_pull,
    phrase_contour,
    planned_chord_tokens,
)
from edge.generator.procedural import bass_line
from edge.generator.steering import keep_melody_mass, mode_chord_pull, note_steer
from edge.music.events import Bar, BarPlan, Chord, Note
from edge.music.style import StylePack
from edge.music.theory import FAMILY, SCALES, scale_pitch_classes

#: Which tag of the training data each shipped style asks for (an artist model knows only "user").
STYLE_TAGS = {"ambient": "bach", "focus": "airds", "workout": "oneills", "house": "ryans"}
#: Longest bar the grammar allows: controls and a chord per beat, then per position POS + 2 notes.
MAX_BAR_TOKENS = 8 + 4 + 16 * 5
_NEG = np.float32(-1e9)


def mode_token(mode: str) -> str:
    """The model's mode (major/minor) for one of the conductor's scales: it hinges on the third."""
    return "major" if 4 in SCALES[mode] else "minor"


def plan_controls(plan: BarPlan, tag: str) -> T.Controls:
    """The control tokens that ask the model for the bar the conductor planned."""
    density = T.bucket(plan.density, T.DENSITY_EDGES)
    shift = (plan.energy > 0.7) - (plan.energy < 0.3)
    return T.Controls(
        meter="3/4" if plan.beats == 3 else "4/4",
        tag=tag,
        key=plan.key,
        mode=mode_token(plan.mode),
        density=density,
        register=T.bucket((plan.register[0] + plan.register[1]) / 2, T.REGISTER_EDGES),
        rhythm=int(np.clip(density + shift, 0, T.BUCKETS - 1)),
    )


def _parent_scale(mode: str) -> str:
    return {"major_pentatonic": "major", "minor_pentatonic": "aeolian"}.get(mode, mode)


def cache_names(layers: int, kind: str = "past") -> list[str]:
    """The KV cache's input (``past``) or output (``present``) names: key and value per layer."""
    return [f"{kind}_{part}_{i}" for i in range(layers) for part in ("key", "value")]


def empty_cache(shape: dict) -> dict[str, np.ndarray]:
    """Inputs for a cache holding nothing yet."""
    empty = np.zeros((1, shape["heads"], 0, shape["width"] // shape["heads"]), dtype=np.float32)
    return dict.fromkeys(cache_names(shape["layers"]), empty)


def step_inputs(ids: np.ndarray, past_len: int) -> dict[str, np.ndarray]:
    """The graph's inputs besides the cache for feeding ``ids`` (``[1, tokens]``) after ``past_len`` tokens.

    The attention kernel reads the cache's length from ``seqlens_k`` and ``total_sequence_length``,
    not from the cache's shape, so that the cache can be one buffer longer than what it holds.
    """
    total = past_len + ids.shape[1]
    return {
        "input_ids": ids,
        "position_ids": np.arange(past_len, total, dtype=np.int64)[None, :],
        "seqlens_k": np.array([total - 1], dtype=np.int32),
        "total_sequence_length": np.array(total, dtype=np.int32),
    }


#: The graph's inputs besides the cache, in order (``edge.training.graph`` builds it).
STEP_INPUTS = ("input_ids", "position_ids", "seqlens_k", "total_sequence_length")


class Decoder:
    """An onnxruntime session with its KV cache and the tokens it has seen.

    The cache is one buffer per layer and kind, as long as the context, bound (IO binding) as
    both the past input and the present output: the attention kernel appends each token's keys
    and values in place, so a step copies nothing. The inputs of a one-token step are bound once
    too and rewritten in place, because at these model sizes binding costs as much as a layer.
    """

    def __init__(self, session: Any, context: int, shape: dict) -> None:
        import onnxruntime as ort

        self._session = session
        self.context = context
        self.history: list[int] = []
        self.logits = np.zeros(len(T.VOCAB), dtype=np.float32)
        self.pending: list[int] = [T.BOS]  # tokens to feed before the next bar's controls
        heads = int(shape["heads"])
        cache_shape = (1, heads, context, int(shape["width"]) // heads)
        self._binding = session.io_binding()
        self._one = step_inputs(np.zeros((1, 1), dtype=np.int64), 0)
        self._one_logits = np.zeros((1, 1, len(T.VOCAB)), dtype=np.float32)
        self._one_values = {k: ort.OrtValue.ortvalue_from_numpy(v) for k, v in self._one.items()}
        self._one_logits_value = ort.OrtValue.ortvalue_from_numpy(self._one_logits)
        # Logits first: outputs come back in the order they were first bound.
        self._binding.bind_ortvalue_output("logits", self._one_logits_value)
        self._cache = [np.zeros(cache_shape, dtype=np.float32) for _ in range(2 * int(shape["layers"]))]
        for past, present, buffer in zip(
            cache_names(int(shape["layers"])),
            cache_names(int(shape["layers"]), "present"),
            self._cache,
            strict=True,
        ):
            value = ort.OrtValue.ortvalue_from_numpy(buffer)  # shares the numpy array's memory
            self._binding.bind_ortvalue_input(past, value)
            self._binding.bind_ortvalue_output(present, value)
        self._bound_one = False

    def feed(self, tokens: Sequence[int]) -> np.ndarray:
        """Run the model over ``tokens``; returns the logits for the next one."""
        past_len = len(self.history)
        if past_len + len(tokens) > self.context:
            raise ValueError(f"{past_len} + {len(tokens)} tokens do not fit a context of {self.context}")
        if len(tokens) == 1:
            logits = self._step(int(tokens[0]), past_len)
        else:
            logits = self._run(np.asarray(tokens, dtype=np.int64)[None, :], past_len)
        self.history.extend(int(t) for t in tokens)
        self.logits = logits[0, -1].copy()
        return self.logits

    def _step(self, token: int, past_len: int) -> np.ndarray:
        one = self._one
        one["input_ids"][0, 0] = token
        one["position_ids"][0, 0] = past_len
        one["seqlens_k"][0] = past_len
        one["total_sequence_length"][...] = past_len + 1
        if not self._bound_one:
            for name, value in self._one_values.items():
                self._binding.bind_ortvalue_input(name, value)
            self._binding.bind_ortvalue_output("logits", self._one_logits_value)
            self._bound_one = True
        self._session.run_with_iobinding(self._binding)
        return self._one_logits

    def _run(self, ids: np.ndarray, past_len: int) -> np.ndarray:
        for name, value in step_inputs(ids, past_len).items():
            self._binding.bind_cpu_input(name, value)
        self._binding.bind_output("logits")
        self._bound_one = False
        self._session.run_with_iobinding(self._binding)
        return self._binding.get_outputs()[0].numpy()  # the logits only (copying all would copy the cache)

    def truncate(self, length: int) -> None:
        """Forget every token after the first ``length`` (their keys and values are left unread)."""
        del self.history[length:]

    def restart(self, history: Sequence[int] = ()) -> None:
        """Forget the cache; keep the newest whole bars of ``history`` that leave room for a bar."""
        bars = T.split_bars(history)
        kept: list[int] = []
        for bar in reversed(bars):
            if len(kept) + len(bar) > self.context - MAX_BAR_TOKENS - 1:  # room for one whole bar
                break
            kept = bar + kept
        self.history = []  # the buffers keep stale keys, which the next feed's lengths leave unread
        self.pending = kept or [T.BOS]

    def room_for(self, tokens: int) -> bool:
        """True while ``tokens`` more still fit in the context."""
        return len(self.history) + tokens <= self.context


class NeuralGenerator:
    """A neural tier: the model proposes, the masks keep it inside the plan and the style."""

    def __init__(
        self,
        name: str,
        session: Any,
        card: dict,
        rng: np.random.Generator,
        temperature: float = 1.0,
        top_p: float = 0.9,
        constrained: bool = True,
    ) -> None:
        self.name = name
        self.constrained = constrained  # False = grammar only (evaluation of the model alone)
        self._rng = rng
        self.temperature = temperature
        self.top_p = top_p
        self.tags = tuple(card.get("tags") or T.TAGS)
        self._decoder = Decoder(session, int(card["shape"]["context"]), card["shape"])
        self._decoder.restart()
        self._colours: dict[str, str] = {}
        self._motifs = PhraseMemory()

    @property
    def history(self) -> list[int]:
        """Every token of the bars written so far in the current context."""
        return self._decoder.history

    def adopt(self, history: Sequence[int], motifs: PhraseMemory | None = None) -> None:
        """Continue from another tier's bars (tokens are the same language at every size), and
        from the motifs its phrases stated, so a phrase returning after the switch still returns."""
        self._decoder.restart(history)
        if motifs is not None:
            self._motifs = motifs.copy()

    @property
    def motifs(self) -> PhraseMemory:
        """What the phrases of the current section stated (a tier switch hands it on)."""
        return self._motifs

    def tag_for(self, style: StylePack) -> str:
        """The training tag a style asks for, or the model's first one if it was not trained on it."""
        tag = STYLE_TAGS.get(style.name, "oneills")
        return tag if tag in self.tags else self.tags[0]

    # -- one bar -----------------------------------------------------------------

    def generate(self, plan: BarPlan, style: StylePack) -> Bar:
        """The next bar for ``plan``; raises only if the model itself fails (tier 0 then plays)."""
        if plan.new_phrase:
            self._decoder.restart()
            self._colours = {}
            self._motifs.clear()
        controls = plan_controls(plan, self.tag_for(style))
        try:
            tokens = self.write_bar(plan, style, controls)
        except Exception:
            self._decoder.restart()  # a half-written bar must not poison the next one
            raise
        self._motifs.remember(plan, tokens[len(controls.tokens()) + plan.beats :])
        _, events = T.decode_bar(tokens)
        bar = self._to_bar(plan, style, events)
        self._motifs.hear(n.pitch for n in bar.notes if n.track == "lead")
        return bar

    def write_bar(self, plan: BarPlan, style: StylePack, controls: T.Controls) -> list[int]:
        """Feed the controls, then sample chords and notes under the masks; the bar's tokens."""
        decoder = self._decoder
        if not decoder.room_for(MAX_BAR_TOKENS):
            decoder.restart(decoder.history)
        planned = planned_chord_tokens(plan) if plan.chords and self.constrained else []
        prefix = decoder.pending + controls.tokens() + planned  # the plan's chords, fed as given
        decoder.pending = []
        logits = decoder.feed(prefix)
        start = len(decoder.history) - len(controls.tokens()) - len(planned)
        masks = _Masks(plan, style) if self.constrained else _Masks.open()
        if not planned:
            span = style.chord_beats if plan.beats % style.chord_beats == 0 else plan.beats
            chord, pull = T.ID["CH_none"], masks.mode_chords
            for beat in range(plan.beats):
                # The style's harmonic rhythm: the model picks a chord at each span start, holds it after.
                allowed = masks.chords if beat % span == 0 else mask([chord])
                chord = self._sample(logits if pull is None else logits + pull, allowed)
                logits = decoder.feed([chord])
        steps = plan.beats * 4
        if plan.melody:  # a reimagined track: its melody as given, the model writes around it
            grammar: Grammar = GivenMelody(steps, style.bass is not None, given_notes(plan.melody, steps))
        else:
            budget = ceiling = None
            if self.constrained:
                # The planned bucket's range (a nudge), and never past the style's own most notes
                # a bar (a ban: the top bucket is open-ended, and workout wrote 10.5 where it
                # declares 10).
                fewest, most = melody_budget(controls.density, plan.beats, steps)
                ceiling = max(fewest, math.floor(style.density[1] * plan.beats + 1e-9))
                budget = (fewest, min(most, ceiling))
            grammar = Grammar(steps, has_bass=style.bass is not None, budget=budget, ceiling=ceiling)
            if self.constrained:  # a sparse line's moves mostly cross a bar line
                grammar.last_melody = T.ID.get(f"MEL_{self._motifs.last_pitch}")
        replay = self._motifs.recall(plan) if self.constrained and not plan.melody else None
        if replay and grammar.accepts(replay, masks) and decoder.room_for(len(replay) + 1):
            decoder.feed(replay)  # a returning phrase states its motif again
            return decoder.history[start:]
        balance = self._motifs.balance(plan) if self.constrained else None
        line = masks.contour if balance is None or masks.contour is None else masks.contour + balance
        steering = line is not None and not plan.melody  # a given melody has nothing to steer
        forced: list[int] = []  # tokens the grammar allows alone, not fed yet
        while decoder.room_for(1 + len(forced)):
            if len(decoder.history) + len(forced) - start >= MAX_BAR_TOKENS:
                break
            allowed = grammar.allowed(masks)
            only = np.flatnonzero(allowed)
            if len(only) == 1:  # a given note's pitch and length: nothing to sample
                self._rng.random()  # the draw a sample would take, so the seed's stream is the same
                if only[0] == T.BAR:
                    break
                grammar.take(int(only[0]))
                forced.append(int(only[0]))
                continue
            if forced:  # a run of them costs one pass of the model, not one each
                logits = decoder.feed(forced)
                forced = []
            bias = grammar.bias(masks)
            # A melody pitch comes after a POS, where it competes with the bass, or straight after
            # the bass at its onset, where it competes with the rhythm (the next POS, the bar's
            # end): either way the steer picks the pitch, and the chance of a melody note stays.
            melody = allowed & masks.melody if steering and grammar.expect != "dur" else None
            if melody is not None and melody.any():
                on_beat = masks.chord_tones[grammar.pos // 4] if grammar.pos % 4 == 0 else None
                steer = note_steer(line, on_beat, grammar.last_melody)
                base = logits if bias is None else logits + bias
                steer = keep_melody_mass(base, steer, melody, self.temperature)
                bias = steer if bias is None else bias + steer
            # The masks already cut what a nucleus cuts for pitches (out of key, out of range); one
            # on top of them drops the scale's rarer degrees and the melody sinks onto the tonic.
            top_p = 1.0 if self.constrained and grammar.expect == "note" else self.top_p
            token = self._sample(logits if bias is None else logits + bias, allowed, top_p)
            if token == T.BAR:
                break  # the next bar's controls open with BAR
            grammar.take(token)
            logits = decoder.feed([token])
        if forced:
            decoder.feed(forced)
        return decoder.history[start:]

    def _sample(self, logits: np.ndarray, allowed: np.ndarray, top_p: float | None = None) -> int:
        """Temperature and nucleus (top-p) sampling over the allowed tokens only."""
        scores = np.where(allowed, logits.astype(np.float64) / self.temperature, _NEG)
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        keep = order[: int(np.searchsorted(cumulative, self.top_p if top_p is None else top_p)) + 1]
        kept = probs[keep] / probs[keep].sum()
        return int(keep[min(int(np.searchsorted(np.cumsum(kept), self._rng.random())), len(keep) - 1)])

    # -- tokens to the event model ----------------------------------------------------

    def _colour(self, kind: str, style: StylePack) -> str:
        """The style's colour for a chord the model wrote (a focus maj7 for a plain triad, say)."""
        if kind in style.chords:
            return kind
        family = {"aug": "maj", "sus4": "maj"}.get(kind, FAMILY.get(kind, "maj"))
        if family not in self._colours:
            options = [q for q in style.chords if FAMILY.get(q) == family] or [
                q for q in style.chords if FAMILY.get(q) == "min"
            ]
            self._colours[family] = str(self._rng.choice(options)) if options else family
        return self._colours[family]

    def _to_bar(self, plan: BarPlan, style: StylePack, events: T.BarEvents) -> Bar:
        chords: list[Chord] = list(plan.chords) if plan.chords and self.constrained else []
        tonic = (plan.key, "maj" if mode_token(plan.mode) == "major" else "min")
        for beat, chord in enumerate(events.chords[: plan.beats] if not chords else ()):
            root, kind = chord or tonic
            quality = self._colour(kind, style)
            if chords and chords[-1].root == root and chords[-1].quality == quality:
                last = chords[-1]
                chords[-1] = Chord(last.onset, last.duration + 1, root, quality)
            else:
                chords.append(Chord(float(beat), 1.0, root, quality))
        notes = self._notes(events.melody, plan, style.melody_velocity, "lead")
        if plan.cadence and notes and self.constrained and not plan.melody:
            notes[-1] = cadence_note(notes[-1], plan)
        if style.bass is not None:
            notes += (
                self._notes(events.bass, plan, style.bass.velocity, "bass")
                if events.bass
                else bass_line(plan, style, tuple(chords), self._rng)
            )
        notes = keep_given_melody(notes, plan)
        notes.sort(key=lambda n: (n.onset, n.track, n.pitch))
        return Bar(plan=plan, notes=tuple(notes), chords=tuple(chords), source=self.name)

    def _notes(self, events: Sequence[T.NoteEvent], plan: BarPlan, velocity: tuple[int, int], track: str):
        ordered = sorted(events, key=lambda n: n.step)
        low, high = velocity
        notes = []
        for i, event in enumerate(ordered):
            # One note at a time per track: a note ends where the next one starts.
            end = ordered[i + 1].step if i + 1 < len(ordered) else plan.beats * 4
            length = max(1, min(event.length, end - event.step))
            accent = 1.0 if event.step == 0 else 0.93 if event.step % 4 == 0 else 0.85
            level = low + (high - low) * (0.35 + 0.65 * plan.energy) * accent + self._rng.normal(0, 3)
            duration = round(length / 4 * 0.95, 4)
            notes.append(Note(event.step / 4, duration, event.pitch, int(np.clip(level, 1, 127)), track))
        return notes


class _Masks:
    """Which pitch and chord tokens a plan and a style allow."""

    melody: np.ndarray
    bass: np.ndarray
    chords: np.ndarray
    contour: np.ndarray | None = None
    """Logit nudges for melody pitches towards the phrase's arch (None: no phrase planned)."""
    chord_tones: list[np.ndarray]
    """Per beat, logit nudges towards the planned chord's tones for a note on the beat."""
    mode_chords: np.ndarray | None
    """Logit nudges towards the chords with the requested mode's third, for chords the model picks."""

    @classmethod
    def open(cls) -> _Masks:
        """Every pitch and chord token: the grammar alone constrains the model."""
        masks = cls.__new__(cls)
        masks.melody, masks.bass, masks.chords = mask(T.MEL_IDS), mask(T.BAS_IDS), mask(T.CHORD_IDS)
        masks.chord_tones = []
        masks.mode_chords = None
        return masks

    def __init__(self, plan: BarPlan, style: StylePack) -> None:
        scale = set(scale_pitch_classes(plan.key, plan.mode))
        parent = set(scale_pitch_classes(plan.key, _parent_scale(plan.mode)))
        low, high = plan.register
        self.melody = mask(
            [
                T.ID[f"MEL_{p}"]
                for p in range(max(low, T.MELODY_RANGE[0]), min(high, T.MELODY_RANGE[1]) + 1)
                if p % 12 in scale
            ]
        )
        blow, bhigh = style.bass_register
        self.bass = mask(
            [
                T.ID[f"BAS_{p}"]
                for p in range(max(blow, T.BASS_RANGE[0]), min(bhigh, T.BASS_RANGE[1]) + 1)
                if p % 12 in parent
            ]
        )
        self.chords = mask(
            [
                T.ID[f"CH_{root}_{kind}"]
                for root in range(12)
                for kind, steps in T.CHORD_KINDS.items()
                if all((root + s) % 12 in parent for s in steps[:3])
            ]
        )
        self.contour = phrase_contour(plan) if plan.chords else None
        self.chord_tones = chord_tone_pull(plan) if plan.chords else []
        major = mode_token(plan.mode) == "major"
        self.mode_chords = None if plan.chords else mode_chord_pull(plan.key, major)
