"""glibc's allocator, set up for a process that plays for months.

glibc gives every thread its own malloc arena (up to eight per core), and each
arena keeps the memory its thread freed. The daemon's audio, model, MQTT and
control threads would each hold such a reserve, and the process's RSS wobbles
and creeps as they churn through note buffers and model caches. ``tune()``
caps the arenas at two before the daemon starts its threads, and
``give_back()`` returns free heap pages to the kernel from the control thread.
On other C libraries (musl, macOS) both do nothing.

The mmap threshold is fixed at 4 MiB. glibc's own threshold rises to the size
of the largest block freed (a decoded 2-minute track: 22 MiB), after which such
blocks come from the heap and its freed pages linger; fixed, a block that large
gets its own mapping and goes back whole (about 2 MiB less while a library
track plays, the same CPU). Every block a model step or a note needs is far
under it; at 128 KiB, every model step would mmap fresh, zeroed pages and run
about four times slower (measured on tier L). docs/reliability.md has the figures.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8
"""mallopt() parameter number, from glibc's <malloc.h>."""
M_MMAP_THRESHOLD = -3
"""mallopt() parameter number: blocks this large or larger are mapped on their own."""

ARENAS = 2
"""Arenas shared by all threads (glibc allows eight per core by default)."""
MMAP_THRESHOLD = 4 << 20
"""Blocks of this size or more get their own mapping, handed back whole when freed."""

_libc: ctypes.CDLL | None = None


def _glibc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.mallopt, libc.malloc_trim  # noqa: B018  (both exist only in glibc)
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


def tune() -> bool:
    """Cap the arenas and fix the mmap threshold; True where glibc took both. Call before the
    process starts threads."""
    libc = _glibc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(M_ARENA_MAX, ARENAS))
    ok = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and ok
    if not ok:
        log.debug("glibc refused the allocator settings; running with its defaults")
    return ok


def give_back() -> None:
    """Return free pages inside the heap to the kernel (a few milliseconds; not from the audio thread)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
