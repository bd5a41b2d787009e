"""The dependency-free PNG line charts used by scripts/thermal_sim.py."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from edge.thermal.plot import BLUE, RED, Canvas, Panel, Series, line_chart, nice_ticks


def read_png(data: bytes) -> np.ndarray:
    """Decode the 8-bit RGB, filter-0 PNGs Canvas writes (checking every chunk's CRC)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
            assert body[8:10] == b"\x08\x02"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert size is not None
    width, height = size
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + 3 * width)
    assert not raw[:, 0].any()  # filter type 0 on every row
    return raw[:, 1:].reshape(height, width, 3)


def test_png_round_trip():
    canvas = Canvas(40, 30)
    canvas.polyline(np.array([0.0, 39.0]), np.array([0.0, 29.0]), RED, width=1)
    image = read_png(canvas.png())
    assert image.shape == (30, 40, 3)
    assert tuple(image[0, 0]) == RED and tuple(image[29, 39]) == RED
    assert tuple(image[0, 39]) == (255, 255, 255)


def test_nan_breaks_the_line_and_dashes_leave_gaps():
    canvas = Canvas(100, 10)
    canvas.polyline(np.array([0.0, 40.0, np.nan, 60.0, 99.0]), np.full(5, 5.0), BLUE)
    row = (canvas.pixels[5] == BLUE).all(axis=1)
    assert row[:41].all() and not row[45:55].any() and row[60:].all()
    dashed = Canvas(100, 10)
    dashed.polyline(np.array([0.0, 99.0]), np.array([5.0, 5.0]), BLUE, dashed=True)
    inked = (dashed.pixels[5] == BLUE).all(axis=1)
    assert 0.3 < inked.mean() < 0.7


def test_line_chart_draws_every_series(tmp_path):
    t = np.linspace(0, 60, 3601)
    panels = [
        Panel([Series(t, 50 + 10 * np.sin(t / 10), BLUE, "temperature")], "SoC C"),
        Panel([Series(t, np.full_like(t, 4.0), RED, "budget")], "W", y_range=(0, 5), labels=[(30, 4, "L/2")]),
    ]
    path = line_chart(tmp_path / "img" / "chart.png", panels, title="test chart", x_label="minutes")
    image = read_png(path.read_bytes())
    assert image.shape == (600, 720, 3)
    assert (image == BLUE).all(axis=2).sum() > 500
    assert (image == RED).all(axis=2).sum() > 500


def test_nice_ticks():
    assert nice_ticks(0, 100, 5) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(58.3, 72.1, 4) == [60, 65, 70]
    assert nice_ticks(-0.05, 1.15, 4) == pytest.approx([0, 0.5, 1.0])
    assert nice_ticks(3, 3) == [3]


def test_thermal_sim_writes_report_and_png_without_matplotlib(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "thermal_sim.py"
    out = tmp_path / "thermal.md"
    result = subprocess.run(
        [sys.executable, str(script), "--placeholder", "--scenarios", "background", "--minutes", "20",
         "--out", str(out), "--img", str(tmp_path / "img")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    png = tmp_path / "img" / "thermal_background.png"
    assert read_png(png.read_bytes()).shape == (600, 720, 3)
    assert "![background](img/thermal_background.png)" in out.read_text()
