"""Work arrays shared by every synth that renders in one thread.

A note is rendered into a work array and mixed into the timeline at once, so a work array is
free again before the next note, whichever synth plays it. While a library track plays, the
producer thread renders two or three synths (the deck's two, the engine's fade): one set of
work arrays per thread instead of one per synth saves their memory (a few MiB: a note's array
is as long as the longest note) and never changes a sample. Each thread has its own (an offline
render in another thread never shares one), let go when the thread ends, or when a sound changes
or a synth rests (``let_go``): the note array is as long as the longest note since, not ever.
"""

from __future__ import annotations

import threading

import numpy as np

_local = threading.local()


def work_array(name: str, rows: int, frames: int) -> np.ndarray:
    """This thread's float32 work array ``name``, at least (``rows``, ``frames``): the same array for
    every caller until one needs it longer (then a quarter longer than asked, so a slowly growing
    note length does not reallocate every time). Its contents are whatever the last caller left."""
    arrays: dict[str, np.ndarray] | None = getattr(_local, "arrays", None)
    if arrays is None:
        arrays = _local.arrays = {}
    array = arrays.get(name)
    if array is None or array.shape[0] < rows or array.shape[1] < frames:
        grown = frames if array is None else max(frames, int(array.shape[1] * 1.25))
        array = arrays[name] = np.empty((max(rows, 0 if array is None else array.shape[0]), grown),
                                        dtype=np.float32)  # fmt: skip
    return array


def let_go() -> None:
    """Drop this thread's work arrays (a sound or a synth stops playing: the next notes may all be
    shorter than the longest one so far); the next caller gets new ones, as long as it asks."""
    _local.arrays = {}
