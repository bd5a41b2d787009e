"""A SoundFont trimmed to some of its presets: the same bytes for what they use, nothing else.

FluidSynth keeps every preset, instrument, zone and sample header of a loaded font in memory
(FluidR3_GM's: some 14 MiB for the 189 presets), even with dynamic sample loading. A font
holding only the presets a pack plays costs well under one. The trimmed file keeps the source's
INFO list (name, copyright, licence) as it is, the chosen presets with every zone, generator and
modulator they have, the instruments they name, the samples those name (and their stereo
partners), each sample's data copied with the 46 points that follow it, and only the sample
offsets renumbered: FluidSynth plays its notes sample for sample as it plays the source's.

The format (SoundFont 2.04, section 7): a RIFF ``sfbk`` of three lists, ``INFO``, ``sdta``
(``smpl``, optionally ``sm24``) and ``pdta`` (``phdr pbag pmod pgen inst ibag imod igen shdr``,
each a table of fixed-size records ending with a terminal one). SF3 fonts (MuseScore's) have
Ogg Vorbis samples: their start and end are byte offsets and their loops are relative to the
sample, so they are copied as they are.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np

PRESET = np.dtype(
    [("name", "S20"), ("preset", "<u2"), ("bank", "<u2"), ("bag", "<u2"),
     ("library", "<u4"), ("genre", "<u4"), ("morphology", "<u4")]
)  # fmt: skip
BAG = np.dtype([("gen", "<u2"), ("mod", "<u2")])
MODULATOR = np.dtype(
    [("source", "<u2"), ("dest", "<u2"), ("amount", "<i2"), ("amount_source", "<u2"), ("transform", "<u2")]
)
GENERATOR = np.dtype([("oper", "<u2"), ("amount", "<u2")])
INSTRUMENT = np.dtype([("name", "S20"), ("bag", "<u2")])
SAMPLE = np.dtype(
    [("name", "S20"), ("start", "<u4"), ("end", "<u4"), ("startloop", "<u4"), ("endloop", "<u4"),
     ("rate", "<u4"), ("pitch", "u1"), ("correction", "i1"), ("link", "<u2"), ("type", "<u2")]
)  # fmt: skip
TABLES = {
    b"phdr": PRESET, b"pbag": BAG, b"pmod": MODULATOR, b"pgen": GENERATOR,
    b"inst": INSTRUMENT, b"ibag": BAG, b"imod": MODULATOR, b"igen": GENERATOR, b"shdr": SAMPLE,
}  # fmt: skip
INSTRUMENT_GEN = 41
"""The preset generator that names an instrument."""
SAMPLE_GEN = 53
"""The instrument generator that names a sample."""
PAD_POINTS = 46
"""Sample points the format puts after every sample (interpolation may read them)."""
COMPRESSED = 0x10
"""Sample type flag of an Ogg Vorbis sample (SF3)."""
ROM = 0x8000
"""Sample type flag of a sample held in a sound card's ROM (no data in the file)."""


class TrimError(ValueError):
    """The source cannot be trimmed (not a SoundFont, or one whose tables do not hold together)."""


def _chunk(handle: BinaryIO, where: str) -> tuple[bytes, int, int]:
    """(id, data offset, size) of the chunk at the handle's position."""
    header = handle.read(8)
    if len(header) < 8:
        raise TrimError(f"{where}: the file ends inside a chunk header")
    ident, size = struct.unpack("<4sI", header)
    return ident, handle.tell(), size


def _lists(handle: BinaryIO, name: str) -> dict[bytes, tuple[int, int]]:
    """Offsets and sizes of the top-level lists INFO, sdta and pdta."""
    handle.seek(0, os.SEEK_END)
    length = handle.tell()
    handle.seek(0)
    ident, _, _ = _chunk(handle, name)
    if ident != b"RIFF" or handle.read(4) != b"sfbk":
        raise TrimError(f"{name}: not a SoundFont (no RIFF sfbk header)")
    found: dict[bytes, tuple[int, int]] = {}
    at = 12
    while at + 12 <= length and len(found) < 3:
        handle.seek(at)
        ident, data, size = _chunk(handle, name)
        if ident != b"LIST":
            raise TrimError(f"{name}: unexpected chunk {ident!r} at byte {at}")
        kind = handle.read(4)
        found[kind] = (data + 4, size - 4)
        at = data + size  # FluidSynth reads the lists back to back, unpadded, and so do we
    for kind in (b"INFO", b"sdta", b"pdta"):
        if kind not in found:
            raise TrimError(f"{name}: no {kind.decode()} list")
        start, size = found[kind]
        if start + size > length:
            raise TrimError(f"{name}: the {kind.decode()} list runs past the end of the file")
    return found


def _subchunks(handle: BinaryIO, start: int, size: int, name: str) -> dict[bytes, tuple[int, int]]:
    chunks: dict[bytes, tuple[int, int]] = {}
    at = start
    while at + 8 <= start + size:
        handle.seek(at)
        ident, data, length = _chunk(handle, name)
        chunks.setdefault(ident, (data, length))
        at = data + length + (length & 1)
    return chunks


def _table(handle: BinaryIO, chunks: dict[bytes, tuple[int, int]], ident: bytes, name: str) -> np.ndarray:
    dtype = TABLES[ident]
    if ident not in chunks:
        raise TrimError(f"{name}: pdta has no {ident.decode()} table")
    at, size = chunks[ident]
    if size % dtype.itemsize or size < dtype.itemsize:
        raise TrimError(f"{name}: the {ident.decode()} table is {size} bytes, not whole records")
    handle.seek(at)
    return np.frombuffer(handle.read(size), dtype=dtype).copy()


def _ranges(index: np.ndarray, items: Iterable[int], count: int, what: str, name: str) -> list[range]:
    """The [index[i], index[i + 1]) range of each item, checked against ``count`` records."""
    spans = []
    for i in items:
        low, high = int(index[i]), int(index[i + 1])
        if not (0 <= low <= high <= count):
            raise TrimError(f"{name}: {what} {i} points outside its table ({low}..{high} of {count})")
        spans.append(range(low, high))
    return spans


class _Zones:
    """Bags, generators and modulators of the kept presets (or instruments), renumbered."""

    def __init__(self, bags: np.ndarray, gens: np.ndarray, mods: np.ndarray) -> None:
        self.bags, self.gens, self.mods = bags, gens, mods
        self.new_bags: list[tuple[int, int]] = []
        self.new_gens: list[np.ndarray] = []
        self.new_mods: list[np.ndarray] = []
        self.gen_count = self.mod_count = 0

    def copy(self, bag_span: range, name: str) -> int:
        """Copy the zones ``bag_span``; returns the index of the first copied bag."""
        first = len(self.new_bags)
        last_gen, last_mod = len(self.gens) - 1, len(self.mods) - 1
        for bag in bag_span:
            if bag + 1 >= len(self.bags):
                raise TrimError(f"{name}: zone {bag} has no end in its bag table")
            (gens,) = _ranges(self.bags["gen"], [bag], last_gen, "zone", name)
            (mods,) = _ranges(self.bags["mod"], [bag], last_mod, "zone", name)
            self.new_bags.append((self.gen_count, self.mod_count))
            self.new_gens.append(self.gens[gens.start : gens.stop])
            self.new_mods.append(self.mods[mods.start : mods.stop])
            self.gen_count += len(gens)
            self.mod_count += len(mods)
        return first

    def tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bags, generators, modulators) with their terminal records."""
        bags = np.array([*self.new_bags, (self.gen_count, self.mod_count)], dtype=BAG)
        gens = np.concatenate([*self.new_gens, self.gens[-1:]])
        mods = np.concatenate([*self.new_mods, self.mods[-1:]])
        return bags, gens, mods


def _renumber(gens: np.ndarray, oper: int, mapping: dict[int, int]) -> np.ndarray:
    gens = gens.copy()
    named = gens["oper"] == oper
    gens["amount"][named] = [mapping[int(a)] for a in gens["amount"][named]]
    return gens


def _named(gens: np.ndarray, oper: int, count: int, what: str, name: str) -> list[int]:
    """Indices named by generator ``oper`` (instruments or samples), checked against ``count``."""
    indices = sorted({int(a) for a in gens["amount"][gens["oper"] == oper]})
    if indices and indices[-1] >= count:
        raise TrimError(f"{name}: a zone names {what} {indices[-1]}, past the {count} there are")
    return indices


def trim(source: Path, presets: Iterable[tuple[int, int]], target: Path) -> int:
    """Write ``target``: ``source`` with only ``presets`` (bank, program). Returns how many presets
    it holds (0 when the source has none of them). Raises TrimError or OSError; ``target`` is
    written under a temporary name and renamed, so it is whole or absent."""
    wanted = {(int(bank), int(program)) for bank, program in presets}
    name = str(source)
    with open(source, "rb") as handle:
        lists = _lists(handle, name)
        handle.seek(lists[b"INFO"][0] - 12)
        info = handle.read(lists[b"INFO"][1] + 12)  # the whole LIST chunk, as it is
        tables = _subchunks(handle, *lists[b"pdta"], name)
        phdr, pbag, pmod, pgen, inst, ibag, imod, igen, shdr = (
            _table(handle, tables, ident, name) for ident in TABLES
        )
        sdta = _subchunks(handle, *lists[b"sdta"], name)
        if b"smpl" not in sdta:
            raise TrimError(f"{name}: sdta has no smpl chunk")
        kept = [i for i in range(len(phdr) - 1) if (int(phdr["bank"][i]), int(phdr["preset"][i])) in wanted]

        preset_zones = _Zones(pbag, pgen, pmod)
        new_phdr = phdr[[*kept, len(phdr) - 1]].copy()
        for row, span in enumerate(_ranges(phdr["bag"], kept, len(pbag) - 1, "preset", name)):
            new_phdr["bag"][row] = preset_zones.copy(span, name)
        new_phdr["bag"][-1] = len(preset_zones.new_bags)
        new_pbag, new_pgen, new_pmod = preset_zones.tables()
        instruments = _named(new_pgen[:-1], INSTRUMENT_GEN, len(inst) - 1, "instrument", name)

        instrument_zones = _Zones(ibag, igen, imod)
        new_inst = inst[[*instruments, len(inst) - 1]].copy()
        for row, span in enumerate(_ranges(inst["bag"], instruments, len(ibag) - 1, "instrument", name)):
            new_inst["bag"][row] = instrument_zones.copy(span, name)
        new_inst["bag"][-1] = len(instrument_zones.new_bags)
        new_ibag, new_igen, new_imod = instrument_zones.tables()
        samples = set(_named(new_igen[:-1], SAMPLE_GEN, len(shdr) - 1, "sample", name))
        for index in list(samples):  # a stereo sample's partner comes along
            link = int(shdr["link"][index])
            if shdr["type"][index] & 0x0E and link < len(shdr) - 1:  # right, left or linked
                samples.add(link)
        order = sorted(samples)
        new_smpl, new_sm24, new_shdr = _sample_data(handle, sdta, shdr, order, name)

    renumber_samples = {old: new for new, old in enumerate(order)}
    new_pgen = _renumber(new_pgen, INSTRUMENT_GEN, {old: new for new, old in enumerate(instruments)})
    new_igen = _renumber(new_igen, SAMPLE_GEN, renumber_samples)
    for row in range(len(new_shdr) - 1):
        new_shdr["link"][row] = renumber_samples.get(int(new_shdr["link"][row]), 0)
    new = (new_phdr, new_pbag, new_pmod, new_pgen, new_inst, new_ibag, new_imod, new_igen, new_shdr)
    pdta = b"".join(_pack(ident, table.tobytes()) for ident, table in zip(TABLES, new, strict=True))
    sdta_body = _pack(b"smpl", new_smpl) + (_pack(b"sm24", new_sm24) if new_sm24 is not None else b"")
    body = b"sfbk" + info + _pack(b"LIST", b"sdta" + sdta_body) + _pack(b"LIST", b"pdta" + pdta)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as out:
            out.write(_pack(b"RIFF", body))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return len(kept)


def _pack(ident: bytes, data: bytes) -> bytes:
    """A RIFF chunk (padded to an even length)."""
    return struct.pack("<4sI", ident, len(data)) + data + (b"\0" if len(data) & 1 else b"")


def _sample_data(
    handle: BinaryIO, sdta: dict[bytes, tuple[int, int]], shdr: np.ndarray, order: list[int], name: str
) -> tuple[bytes, bytes | None, np.ndarray]:
    """The kept samples' data (smpl, and sm24 when the source has one) and their headers, moved."""
    smpl_at, smpl_size = sdta[b"smpl"]
    sm24 = sdta.get(b"sm24")
    points = smpl_size // 2
    new_shdr = shdr[[*order, len(shdr) - 1]].copy()
    smpl, low = bytearray(), bytearray()
    for row, index in enumerate(order):
        header = shdr[index]
        kind, start, end = int(header["type"]), int(header["start"]), int(header["end"])
        if kind & ROM:
            raise TrimError(f"{name}: sample {index} is in ROM, not in the file")
        if kind & COMPRESSED:  # byte offsets into smpl; loops are relative to the sample
            if sm24 is not None:
                raise TrimError(f"{name}: compressed samples with an sm24 chunk")
            if not start <= end <= smpl_size:
                raise TrimError(f"{name}: sample {index} lies outside the sample data")
            handle.seek(smpl_at + start)
            new_shdr["start"][row] = len(smpl)
            smpl += handle.read(end - start)
            new_shdr["end"][row] = len(smpl)
            if len(smpl) & 1:
                smpl += b"\0"
            continue
        if not start <= end <= points:
            raise TrimError(f"{name}: sample {index} lies outside the sample data")
        stop = min(points, end + PAD_POINTS)  # what follows the sample, as the source has it
        handle.seek(smpl_at + 2 * start)
        data = handle.read(2 * (stop - start)) + bytes(2 * (end + PAD_POINTS - stop))
        moved = len(smpl) // 2 - start
        for field in ("start", "end", "startloop", "endloop"):
            if int(header[field]) + moved < 0:
                raise TrimError(f"{name}: sample {index}'s {field} lies before its start")
            new_shdr[field][row] = int(header[field]) + moved
        smpl += data
        if sm24 is not None:
            handle.seek(sm24[0] + start)
            low += handle.read(stop - start) + bytes(end + PAD_POINTS - stop)
    return bytes(smpl), (bytes(low) if sm24 is not None else None), new_shdr
