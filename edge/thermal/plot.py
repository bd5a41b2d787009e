"""Line charts as PNG files with numpy, zlib and struct only.

``scripts/thermal_sim.py`` draws its plots with this so the project needs no
plotting library: matplotlib is not a dependency, and a few stacked line
panels with ticks, a legend and short labels are all the report needs. Text
uses a built-in 3x5 pixel font (upper-case letters, digits, a few symbols).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Colour = tuple[int, int, int]

BLUE: Colour = (31, 119, 180)
ORANGE: Colour = (255, 127, 14)
GREEN: Colour = (44, 160, 44)
RED: Colour = (214, 39, 40)
PURPLE: Colour = (148, 103, 189)
GREY: Colour = (127, 127, 127)
BLACK: Colour = (0, 0, 0)
LIGHT: Colour = (225, 225, 225)

# 3x5 glyphs, rows top to bottom, "#" = ink. Unknown characters draw as blanks.
_GLYPHS = {
    "0": "####.##.##.####", "1": ".#.##..#..#.###", "2": "###..#####..###", "3": "###..####..####",
    "4": "#.##.####..#..#", "5": "####..###..####", "6": "####..####.####", "7": "###..#..#.#..#.",
    "8": "####.#####.####", "9": "####.####..####", "A": ".#.#.#####.##.#", "B": "##.#.###.#.###.",
    "C": ".###..#..#...##", "D": "##.#.##.##.###.", "E": "####..##.#..###", "F": "####..##.#..#..",
    "G": ".###..#.##.#.##", "H": "#.##.#####.##.#", "I": "###.#..#..#.###", "J": "..#..#..##.#.#.",
    "K": "#.##.###.#.##.#", "L": "#..#..#..#..###", "M": "#.########.##.#", "N": "##.#.##.##.##.#",
    "O": ".#.#.##.##.#.#.", "P": "##.#.###.#..#..", "Q": ".#.#.##.###..##", "R": "##.#.###.#.##.#",
    "S": ".###...#...###.", "T": "###.#..#..#..#.", "U": "#.##.##.##.####", "V": "#.##.##.##.#.#.",
    "W": "#.##.########.#", "X": "#.##.#.#.#.##.#", "Y": "#.##.#.#..#..#.", "Z": "###..#.#.#..###",
    " ": "...............", ".": ".............#.", "-": "......###......", "+": "....#.###.#....",
    ":": "....#.....#....", "/": "..#..#.#.#..#..", "%": "#.#..#.#.#..#.#", "(": ".#.#..#..#...#.",
    ")": ".#...#..#..#.#.", "=": "...###...###...", ",": "..........#.#..", ">": "#...#...#.#.#..",
    "<": "..#.#.#...#...#", "_": "............###",
}  # fmt: skip
_FONT = {
    ch: np.array([c == "#" for c in rows.ljust(15, ".")[:15]], dtype=bool).reshape(5, 3)
    for ch, rows in _GLYPHS.items()
}


@dataclass
class Series:
    """One line in a panel."""

    x: Sequence[float] | np.ndarray
    """X values (same unit across panels)."""
    y: Sequence[float] | np.ndarray
    """Y values; NaN leaves a gap."""
    colour: Colour
    """RGB."""
    label: str = ""
    """Legend text; empty: not in the legend."""
    width: int = 1
    """Line width in pixels."""
    dashed: bool = False
    """Dashed line (for reference policies and limits)."""


@dataclass
class Panel:
    """One stacked chart."""

    series: list[Series]
    """Lines, drawn in order (last on top)."""
    y_label: str = ""
    """Text above the panel's top-left corner."""
    y_range: tuple[float, float] | None = None
    """Fixed y limits; None fits the data with a small margin."""
    labels: list[tuple[float, float, str]] = field(default_factory=list)
    """(x, y, text) annotations in data coordinates."""


class Canvas:
    """An RGB image with the few drawing operations a line chart needs."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = np.full((height, width, 3), 255, dtype=np.uint8)

    def dots(self, xs: np.ndarray, ys: np.ndarray, colour: Colour, width: int = 1) -> None:
        """Set the pixels at integer coordinates (clipped), thickened to ``width``."""
        xs, ys = np.asarray(xs, dtype=np.int64), np.asarray(ys, dtype=np.int64)
        for dx in range(width):
            for dy in range(width):
                x, y = xs + dx - width // 2, ys + dy - width // 2
                keep = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
                self.pixels[y[keep], x[keep]] = colour

    def polyline(self, px: np.ndarray, py: np.ndarray, colour: Colour, width: int = 1,
                 dashed: bool = False) -> None:
        """Join consecutive points with straight segments; NaN points break the line."""
        px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
        if len(px) == 1 and np.isfinite(px[0]) and np.isfinite(py[0]):
            self.dots(np.rint(px), np.rint(py), colour, width)
        if len(px) < 2:
            return
        x0, y0, x1, y1 = px[:-1], py[:-1], px[1:], py[1:]
        ok = np.isfinite(x0) & np.isfinite(y0) & np.isfinite(x1) & np.isfinite(y1)
        x0, y0, x1, y1 = x0[ok], y0[ok], x1[ok], y1[ok]
        if not len(x0):
            return
        # Densify every segment to one sample per pixel step, all at once (no per-segment loop).
        steps = np.ceil(np.maximum(np.abs(x1 - x0), np.abs(y1 - y0))).astype(np.int64) + 1
        seg = np.repeat(np.arange(len(x0)), steps)
        starts = np.cumsum(steps) - steps
        frac = (np.arange(steps.sum()) - starts[seg]) / np.maximum(steps[seg] - 1, 1)
        xs = np.rint(x0[seg] + (x1[seg] - x0[seg]) * frac)
        ys = np.rint(y0[seg] + (y1[seg] - y0[seg]) * frac)
        if dashed:
            keep = (np.arange(len(xs)) // 6) % 2 == 0
            xs, ys = xs[keep], ys[keep]
        self.dots(xs, ys, colour, width)

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: Colour) -> None:
        """Outline of a rectangle, corners inclusive."""
        self.polyline(np.array([x0, x1, x1, x0, x0]), np.array([y0, y0, y1, y1, y0]), colour)

    def text(self, x: int, y: int, text: str, colour: Colour = BLACK, scale: int = 2) -> int:
        """Draw ``text`` with its top-left at (x, y); returns the x after the last glyph."""
        for ch in text.upper():
            glyph = _FONT.get(ch, _FONT[" "])
            gy, gx = np.nonzero(np.kron(glyph, np.ones((scale, scale), dtype=bool)))
            self.dots(gx + x, gy + y, colour)
            x += 4 * scale
        return x

    @staticmethod
    def text_width(text: str, scale: int = 2) -> int:
        """Pixels ``text`` takes at ``scale``."""
        return len(text) * 4 * scale

    def png(self) -> bytes:
        """The image as an 8-bit RGB PNG."""

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        raw = np.concatenate([np.zeros((self.height, 1), np.uint8), self.pixels.reshape(self.height, -1)], 1)
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + chunk(b"IEND", b""))


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten apart) within low..high."""
    span = high - low
    if not np.isfinite(span) or span <= 0:
        return [low]
    raw = span / max(1, count)
    power = 10 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = np.ceil(low / step - 1e-9) * step
    return [round(float(v), 10) for v in np.arange(first, high + step * 1e-6, step)]


def _fmt(value: float) -> str:
    value += 0.0  # -0.0 -> 0.0, so a tick never reads "-0"
    return f"{value:g}" if abs(value) >= 0.01 or value == 0 else f"{value:.1e}"


def line_chart(path: str | Path, panels: Sequence[Panel], title: str = "", x_label: str = "",
               width: int = 720, height: int = 600) -> Path:
    """Draw stacked panels sharing one x axis and write them to ``path`` as a PNG."""
    canvas = Canvas(width, height)
    left, right, top, bottom = 56, 12, 22 if title else 8, 30
    gap = 22  # room for each panel's label
    if title:
        canvas.text(left, 6, title[: (width - left) // 8])
    xs_all = np.concatenate([np.asarray(s.x, float) for p in panels for s in p.series] or [np.zeros(1)])
    x_lo, x_hi = float(np.nanmin(xs_all)), float(np.nanmax(xs_all))
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    usable = height - top - bottom - gap * len(panels)
    panel_h = usable // max(1, len(panels))
    y = top
    for index, panel in enumerate(panels):
        y += gap
        x0, x1, y0, y1 = left, width - right, y, y + panel_h
        if panel.y_range is not None:
            lo, hi = panel.y_range
        else:
            ys = np.concatenate([np.asarray(s.y, float) for s in panel.series] or [np.zeros(1)])
            ys = ys[np.isfinite(ys)]
            lo, hi = (float(ys.min()), float(ys.max())) if len(ys) else (0.0, 1.0)
            pad = max(0.05 * (hi - lo), 0.5 if hi == lo else 0.0)
            lo, hi = lo - pad, hi + pad

        def to_px(xv: np.ndarray, yv: np.ndarray, x0: int = x0, x1: int = x1, y0: int = y0,
                  y1: int = y1, lo: float = lo, hi: float = hi) -> tuple[np.ndarray, np.ndarray]:
            px = x0 + (np.asarray(xv, float) - x_lo) / (x_hi - x_lo) * (x1 - x0)
            yv = np.clip(np.asarray(yv, float), lo - 0.02 * (hi - lo), hi + 0.02 * (hi - lo))
            return px, y1 - (yv - lo) / (hi - lo) * (y1 - y0)

        for tick in nice_ticks(lo, hi, 4):
            _, ty = to_px(np.array([x_lo]), np.array([tick]))
            canvas.polyline(np.array([x0, x1]), np.array([ty[0], ty[0]]), LIGHT)
            label = _fmt(tick)
            canvas.text(x0 - 4 - canvas.text_width(label), int(ty[0]) - 5, label)
        x_ticks = nice_ticks(x_lo, x_hi, 8)
        for tick in x_ticks:
            tx, _ = to_px(np.array([tick]), np.array([lo]))
            canvas.polyline(np.array([tx[0], tx[0]]), np.array([y0, y1]), LIGHT)
        for s in panel.series:
            px, py = to_px(np.asarray(s.x), np.asarray(s.y))
            canvas.polyline(px, py, s.colour, s.width, s.dashed)
        for lx, ly, text in panel.labels:
            px, py = to_px(np.array([lx]), np.array([ly]))
            canvas.text(int(px[0]) + 2, int(py[0]) - 12, text, BLACK, 1)
        canvas.rect(x0, y0, x1, y1, BLACK)
        # Label on the left above the panel, legend entries to its right.
        cursor = canvas.text(x0, y0 - 14, panel.y_label) + 16
        for s in panel.series:
            if not s.label:
                continue
            swatch_y = np.array([y0 - 9, y0 - 9])
            canvas.polyline(np.array([cursor, cursor + 14]), swatch_y, s.colour, 2, s.dashed)
            cursor = canvas.text(cursor + 18, y0 - 14, s.label, s.colour) + 10
        if index == len(panels) - 1:
            for tick in x_ticks:
                tx, _ = to_px(np.array([tick]), np.array([lo]))
                label = _fmt(tick)
                canvas.text(int(tx[0]) - canvas.text_width(label) // 2, y1 + 4, label)
            if x_label:
                canvas.text(x1 - canvas.text_width(x_label), y1 + 16, x_label)
        y = y1
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(canvas.png())
    return path
