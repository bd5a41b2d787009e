"""`edge-music pack install|list|remove|check` on packs made in tmp_path, and hostile archives.

Every refusal is a crafted archive (or folder): it must exit 2 with one line naming the
member, install nothing, and write nothing outside the packs' own temp folder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from edge.cli import main
from edge.music.style import StyleLibrary
from tests.pack_helpers import ROOT, make_pack, member, tar_gz, write_sums, zip_member, zip_of

EXAMPLE = ROOT / "examples" / "packs" / "rainy-window"


@pytest.fixture
def home(tmp_path):
    """A config whose [packs] dir is in tmp_path; the limits small enough to craft bombs quickly."""

    class Home:
        packs = tmp_path / "packs"
        config = tmp_path / "config.toml"

        def limits(self, **values):
            body = "".join(f"{k} = {v}\n" for k, v in values.items())
            self.config.write_text(f'[packs]\ndir = "{self.packs}"\n{body}')

    h = Home()
    h.limits()
    return h


def run(home, capsys, *args):
    code = main(["pack", "--config", str(home.config), *args])
    out, err = capsys.readouterr()
    return code, out, err


def installed_names(home):
    if not home.packs.exists():
        return []
    return sorted(p.name for p in home.packs.iterdir() if p.name != ".lock")


# -- a good pack --------------------------------------------------------------------------------


def test_a_pack_made_outside_the_tree_installs_lists_plays_and_is_removed(home, capsys, tmp_path):
    pack = make_pack(tmp_path / "work")
    code, out, err = run(home, capsys, "install", str(pack))
    assert code == 0, err
    assert "installed lofi-garden (1.2.0 by Ada Example, licence CC-BY-4.0)" in out
    assert installed_names(home) == ["lofi-garden"]
    # Files are data: readable, never executable.
    for path in (home.packs / "lofi-garden").rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644)

    code, out, _ = run(home, capsys, "list")
    assert code == 0
    assert "lofi-garden\t1.2.0\tAda Example\tCC-BY-4.0" in out

    library = StyleLibrary(installed=home.packs)
    assert "lofi-garden" in library.names and "focus" in library.names
    style = library.get("lofi-garden")
    assert (style.credit, style.licence, style.contact) == ("Ada Example", "CC-BY-4.0", "ada@example.org")

    code, out, _ = run(home, capsys, "remove", "lofi-garden")
    assert code == 0 and "removed lofi-garden" in out
    assert installed_names(home) == []
    assert "lofi-garden" not in StyleLibrary(installed=home.packs).names


@pytest.mark.parametrize("kind", ["tar.gz", "zip", "zip at the root"])
def test_archives_install_with_one_command(home, capsys, tmp_path, kind):
    pack = make_pack(tmp_path / "work", model=True)
    if kind == "tar.gz":
        archive = tar_gz(pack, tmp_path / "lofi-garden-1.2.0.tar.gz")
    elif kind == "zip":
        archive = zip_of(pack, tmp_path / "lofi-garden-1.2.0.zip")
    else:  # files at the top of the archive: the name comes from pack.toml
        shutil.make_archive(str(tmp_path / "flat"), "zip", pack)
        archive = tmp_path / "flat.zip"
    code, _, err = run(home, capsys, "install", str(archive))
    assert code == 0, err
    assert installed_names(home) == ["lofi-garden"]
    assert (home.packs / "lofi-garden" / "model" / "artist-S.onnx").is_file()
    assert (home.packs / "lofi-garden" / "samples" / "keys" / "c4.wav").is_file()


def test_check_accepts_a_good_pack_and_installs_nothing(home, capsys, tmp_path):
    pack = make_pack(tmp_path / "work", model=True)
    code, out, err = run(home, capsys, "check", str(pack))
    assert (code, out, err) == (0, "lofi-garden: ok\n", "")
    assert installed_names(home) == []


def test_the_example_pack_passes_check(home, capsys):
    code, out, _ = run(home, capsys, "check", str(EXAMPLE))
    assert (code, out) == (0, "rainy-window: ok\n")


def test_an_installed_pack_is_replaced_only_with_force(home, capsys, tmp_path):
    first = make_pack(tmp_path / "v1")
    assert run(home, capsys, "install", str(first))[0] == 0
    second = make_pack(tmp_path / "v2", author="Grace Example")
    code, _, err = run(home, capsys, "install", str(second))
    assert code == 2 and err.count("\n") == 1 and "already installed" in err and "--force" in err
    assert StyleLibrary(installed=home.packs).get("lofi-garden").author == "Ada Example"
    code, _, err = run(home, capsys, "install", "--force", str(second))
    assert code == 0, err
    assert StyleLibrary(installed=home.packs).get("lofi-garden").author == "Grace Example"
    assert installed_names(home) == ["lofi-garden"]  # no leftovers of the old one


def test_a_pack_broken_after_install_is_left_out_and_listed_as_broken(home, capsys, tmp_path):
    assert run(home, capsys, "install", str(make_pack(tmp_path / "work")))[0] == 0
    toml = home.packs / "lofi-garden" / "pack.toml"
    toml.write_text(toml.read_text().replace("range = [68, 90]", "range = [68, 900]"))
    library = StyleLibrary(installed=home.packs)  # never raises: the built-ins still play
    assert "lofi-garden" not in library.names and "focus" in library.names
    assert "tempo.range" in library.skipped["lofi-garden"]
    code, out, _ = run(home, capsys, "list")
    assert code == 0 and "lofi-garden\tBROKEN:" in out and "tempo.range" in out


def test_names_that_are_not_pack_names_are_refused_by_remove(home, capsys):
    for name in ("../../etc", "/etc", "focus", "missing"):
        code, _, err = run(home, capsys, "remove", name)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


# -- refusals: crafted archives ----------------------------------------------------------------

TAR_CASES = {
    "traversal": (member("../../../../escaped", data=b"pwned"), "../../../../escaped: path traversal"),
    "inner traversal": (member("lofi-garden/samples/../../../escaped", data=b"x"), "path traversal"),
    "absolute": (member("/etc/edge-music-pwned", data=b"pwned"), "/etc/edge-music-pwned: absolute path"),
    "symlink": (member("lofi-garden/samples/a.wav", tarfile.SYMTYPE, link="/etc/passwd"), "is a symlink"),
    "hard link": (member("lofi-garden/samples/b.wav", tarfile.LNKTYPE, link="etc/passwd"), "is a hard link"),
    "char device": (member("lofi-garden/samples/c.wav", tarfile.CHRTYPE), "is a device file or fifo"),
    "block device": (member("lofi-garden/samples/d.wav", tarfile.BLKTYPE), "is a device file or fifo"),
    "fifo": (member("lofi-garden/samples/e.wav", tarfile.FIFOTYPE), "is a device file or fifo"),
    "duplicate": (member("lofi-garden/LICENCE", data=b"other terms"), "appears twice"),
}


def assert_refused(home, capsys, source, fragment, tmp_path):
    code, out, err = run(home, capsys, "install", str(source))
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1, lines  # one refusal, one line
    assert lines[0].startswith("edge-music: error: ") and fragment in lines[0], lines
    assert "Traceback" not in err and out == ""
    assert installed_names(home) == []  # nothing installed, no temp folder left behind
    assert not list(tmp_path.rglob("escaped")) and not Path("/etc/edge-music-pwned").exists()


@pytest.mark.parametrize("case", sorted(TAR_CASES))
def test_hostile_tar_members_are_refused(home, capsys, tmp_path, case):
    (info, data), fragment = TAR_CASES[case]
    archive = tar_gz(make_pack(tmp_path / "work"), tmp_path / "evil.tar.gz", [(info, data)])
    assert_refused(home, capsys, archive, fragment, tmp_path)


ZIP_CASES = {
    "traversal": (zip_member("../../../../escaped", b"pwned"), "path traversal"),
    "absolute": (zip_member("/etc/edge-music-pwned", b"pwned"), "absolute path"),
    "drive letter": (zip_member("C:/edge-music-pwned", b"pwned"), "absolute path"),
    "backslash": (zip_member("lofi-garden\\..\\..\\escaped", b"pwned"), "backslash"),
    "symlink": (zip_member("lofi-garden/samples/a.wav", b"/etc/passwd", stat.S_IFLNK | 0o777), "symlink"),
    "device": (zip_member("lofi-garden/samples/c.wav", b"", stat.S_IFCHR | 0o644), "device"),
}


@pytest.mark.parametrize("case", sorted(ZIP_CASES))
def test_hostile_zip_members_are_refused(home, capsys, tmp_path, case):
    (info, data), fragment = ZIP_CASES[case]
    archive = zip_of(make_pack(tmp_path / "work"), tmp_path / "evil.zip", [(info, data)])
    assert_refused(home, capsys, archive, fragment, tmp_path)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_bombs_by_size_by_ratio_and_by_count_are_refused(home, capsys, tmp_path, kind):
    pack = make_pack(tmp_path / "work")
    zeros = member("lofi-garden/samples/zeros.wav", data=bytes(3_000_000))
    many = [member(f"lofi-garden/samples/{i}.wav", data=b"RIFF") for i in range(40)]

    def archive(extra):
        if kind == "zip":
            extra = [zip_member(info.name, data) for info, data in extra]
            return zip_of(pack, tmp_path / f"bomb{len(extra)}.zip", extra)
        return tar_gz(pack, tmp_path / f"bomb{len(extra)}.tar.gz", extra)

    home.limits(max_mb=1, max_ratio=1_000_000)
    assert_refused(home, capsys, archive([zeros]), "expands beyond 1 MB (packs.max_mb)", tmp_path)
    home.limits(max_ratio=100)
    assert_refused(home, capsys, archive([zeros]), "expands more than 100 times its size", tmp_path)
    home.limits(max_files=30)
    assert_refused(home, capsys, archive(many), "more than 30 files and folders", tmp_path)


def test_the_default_limits_refuse_a_real_zip_bomb(home, capsys, tmp_path):
    # 250 MB of zeros deflate to about 0.24 MB: refused from the zip's directory, before a byte is written.
    pack = make_pack(tmp_path / "work")
    archive = zip_of(pack, tmp_path / "bomb.zip")
    with (
        zipfile.ZipFile(archive, "a", zipfile.ZIP_DEFLATED) as bomb,
        bomb.open("lofi-garden/samples/z.wav", "w") as out,
    ):
        for _ in range(250):
            out.write(bytes(1_000_000))
    assert archive.stat().st_size < 1_000_000
    assert_refused(home, capsys, archive, "bomb.zip: expands beyond 200 MB (packs.max_mb)", tmp_path)


def test_symlinks_and_fifos_in_a_folder_are_refused(home, capsys, tmp_path):
    pack = make_pack(tmp_path / "work")
    os.symlink("/etc/passwd", pack / "samples" / "link.wav")
    assert_refused(home, capsys, pack, "samples/link.wav: is a symlink", tmp_path)
    (pack / "samples" / "link.wav").unlink()
    os.mkfifo(pack / "samples" / "pipe.wav")
    assert_refused(home, capsys, pack, "samples/pipe.wav: is a device file, fifo or socket", tmp_path)


# -- refusals: what the pack holds ---------------------------------------------------------------


def edit(pack: Path, change) -> Path:
    change(pack)
    write_sums(pack)
    return pack


def card_with_sha(pack: Path, sha: str) -> None:
    card = pack / "model" / "artist-S.onnx.json"
    data = json.loads(card.read_text())
    data["sha256"] = sha
    card.write_text(json.dumps(data))


CONTENT_CASES = {
    "unknown sample format": (
        lambda p: (p / "samples" / "song.mp3").write_bytes(b"ID3\x03" + bytes(100)),
        "lofi-garden/samples/song.mp3: unknown sample format",
    ),
    "sample disguised as a WAV": (
        lambda p: (p / "samples" / "run.wav").write_text("#!/bin/sh\nrm -rf /\n"),
        "lofi-garden/samples/run.wav: is not a WAV file",
    ),
    "FLAC that is not": (
        lambda p: (p / "samples" / "x.flac").write_bytes(b"RIFF" + bytes(40)),
        "samples/x.flac: is not a FLAC file",
    ),
    "SoundFont that is not": (
        lambda p: (p / "samples" / "x.sf2").write_bytes(b"RIFF\0\0\0\0WAVE"),
        "samples/x.sf2: is not a SoundFont",
    ),
    "sfz leaving the pack": (
        lambda p: (p / "samples" / "evil.sfz").write_text("<region> sample=../../../etc/passwd\n"),
        "samples/evil.sfz: line 1: sample: '../../../etc/passwd' leaves the pack",
    ),
    "sfz absolute path": (
        lambda p: (p / "samples" / "evil.sfz").write_text("<region> sample=C:\\Windows\\x.wav\n"),
        "is an absolute path",
    ),
    "sfz include leaving the pack": (
        lambda p: (p / "samples" / "evil.sfz").write_text('#include "../../other/x.sfz"\n'),
        "samples/evil.sfz: line 1: #include: '../../other/x.sfz' leaves the pack",
    ),
    "model sha256 mismatch": (
        lambda p: card_with_sha(p, "0" * 64),
        "lofi-garden/model/artist-S.onnx.json: sha256: does not match model/artist-S.onnx",
    ),
    "model without its card": (
        lambda p: (p / "model" / "artist-S.onnx.json").unlink(),
        "model/artist-S.onnx: has no model card",
    ),
    "model card that is not JSON": (
        lambda p: (p / "model" / "artist-S.onnx.json").write_text("{not json"),
        "model/artist-S.onnx.json: is not valid JSON",
    ),
    "missing pack.toml": (lambda p: (p / "pack.toml").unlink(), "lofi-garden/pack.toml: missing"),
    "invalid pack.toml value": (
        lambda p: (p / "pack.toml").write_text((p / "pack.toml").read_text().replace("[68, 90]", "[10, 20]")),
        "lofi-garden/pack.toml: tempo.range: [10, 20] must satisfy",
    ),
    "unknown pack.toml key": (
        lambda p: (p / "pack.toml").write_text("colour = 3\n" + (p / "pack.toml").read_text()),
        "lofi-garden/pack.toml: colour: unknown key",
    ),
    "no author": (
        lambda p: (p / "pack.toml").write_text((p / "pack.toml").read_text().replace("Ada Example", "")),
        "lofi-garden/pack.toml: author: required in an installable pack",
    ),
    "no licence text": (lambda p: (p / "LICENCE").unlink(), "lofi-garden: no licence text"),
    "a script": (lambda p: (p / "install.sh").write_text("#!/bin/sh\n"), "install.sh: not part of a pack"),
    "a folder of code": (
        lambda p: ((p / "lib").mkdir(), (p / "lib" / "x.py").write_text("")),
        "lofi-garden/lib/: not part of a pack",
    ),
}


@pytest.mark.parametrize("case", sorted(CONTENT_CASES))
def test_bad_contents_are_refused_naming_the_file_and_key(home, capsys, tmp_path, case):
    change, fragment = CONTENT_CASES[case]
    pack = edit(make_pack(tmp_path / "work", model=True), change)
    archive = tar_gz(pack, tmp_path / "bad.tar.gz")
    assert_refused(home, capsys, archive, fragment, tmp_path)


def test_sums_that_do_not_match_or_miss_a_file_are_refused(home, capsys, tmp_path):
    pack = make_pack(tmp_path / "work")
    (pack / "LICENCE").write_text("All rights reserved.\n")  # changed after the sums were made
    assert_refused(home, capsys, pack, "lofi-garden/LICENCE: sha256 does not match SHA256SUMS line", tmp_path)
    write_sums(pack)
    (pack / "samples" / "late.wav").write_bytes((pack / "samples" / "keys" / "c4.wav").read_bytes())
    assert_refused(home, capsys, pack, "lofi-garden/samples/late.wav: not listed in SHA256SUMS", tmp_path)
    (pack / "SHA256SUMS").unlink()
    assert_refused(home, capsys, pack, "lofi-garden/SHA256SUMS: missing", tmp_path)


def test_a_pack_may_not_take_a_built_in_name(home, capsys, tmp_path):
    pack = make_pack(tmp_path / "work", name="focus")
    assert_refused(home, capsys, pack, "focus/pack.toml: name: 'focus' is a built-in pack", tmp_path)


def test_not_an_archive_and_a_missing_path_are_one_line(home, capsys, tmp_path):
    (tmp_path / "pack.rar").write_bytes(b"Rar!\x1a\x07\x00")
    assert_refused(home, capsys, tmp_path / "pack.rar", "is not a folder, a .tar.gz or a .zip", tmp_path)
    assert_refused(home, capsys, tmp_path / "nothing.zip", "no such file or folder", tmp_path)
    (tmp_path / "cut.tar.gz").write_bytes(
        tar_gz(make_pack(tmp_path / "w"), tmp_path / "t.tgz").read_bytes()[:300]
    )
    assert_refused(home, capsys, tmp_path / "cut.tar.gz", "is not a readable .tar.gz", tmp_path)


def test_check_prints_one_line_per_problem_naming_file_and_key(home, capsys, tmp_path):
    def break_twice(p):
        (p / "pack.toml").write_text((p / "pack.toml").read_text().replace("[68, 90]", "[10, 20]"))
        (p / "samples" / "song.mp3").write_bytes(b"ID3")

    pack = edit(make_pack(tmp_path / "work"), break_twice)
    code, out, err = run(home, capsys, "check", str(pack))
    assert code == 2 and err == ""
    assert out.splitlines() == [
        "lofi-garden/pack.toml: tempo.range: [10, 20] must satisfy 40 <= low <= high <= 240",
        "lofi-garden/samples/song.mp3: unknown sample format (known: .wav, .flac, .sfz, .sf2, .sf3)",
    ]


def test_a_pack_replaced_with_force_sounds_new_from_the_next_bar_after_a_reload(home, capsys, tmp_path):
    from edge.context.context import Context
    from edge.engine import Engine

    assert run(home, capsys, "install", str(make_pack(tmp_path / "v1")))[0] == 0
    engine = Engine(StyleLibrary(installed=home.packs), lambda: Context(style="lofi-garden"), seed=1)
    engine.schedule_next_bar()
    assert engine.style.author == "Ada Example"
    assert (
        run(home, capsys, "install", "--force", str(make_pack(tmp_path / "v2", author="Grace Example")))[0]
        == 0
    )
    engine.styles = StyleLibrary(installed=home.packs)  # what the daemon does on SIGHUP
    engine.schedule_next_bar()
    assert engine.style.author == "Grace Example"
    # Removed and reloaded while it plays: the engine keeps the pack it has until the context moves.
    assert run(home, capsys, "remove", "lofi-garden")[0] == 0
    engine.styles = StyleLibrary(installed=home.packs)
    engine.schedule_next_bar()
    assert engine.style.name == "lofi-garden"
