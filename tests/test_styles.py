"""Style packs are validated on load; errors name the pack and the key."""

import tomllib

import pytest

from edge.music.style import STYLES_DIR, StyleError, StyleLibrary, parse_pack


def focus_data():
    with (STYLES_DIR / "focus.toml").open("rb") as fh:
        return tomllib.load(fh)


def test_shipped_packs_load():
    library = StyleLibrary()
    for name in library.names:
        pack = library.get(name)
        assert pack.description and pack.instruments and "lead" in pack.tracks


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["tempo"].update(range=[150, 90]), "tempo.range"),
        (lambda d: d["harmony"].update(scales=["dorian", "blues-ish"]), "harmony.scales: 'blues-ish'"),
        (lambda d: d["melody"].update(tempo=3), "melody.tempo: unknown key"),
        (lambda d: d.update(colour="blue"), "colour: unknown key"),
        (lambda d: d["drums"]["pattern"][0].update(kick=[1, 0, 0]), "drums.pattern[0].kick"),
        (lambda d: d["harmony"].update(progressions=[[1, 9]]), "harmony.progressions"),
        (lambda d: d.pop("harmony"), "harmony: is required"),
        (lambda d: d["instruments"].pop("lead"), "instruments.lead"),
    ],
)
def test_invalid_pack_names_pack_and_key(mutate, fragment):
    data = focus_data()
    mutate(data)
    with pytest.raises(StyleError) as info:
        parse_pack(data, "focus", "/x/focus.toml")
    message = str(info.value)
    assert message.startswith("style 'focus' (/x/focus.toml): ")
    assert fragment in message
    assert "\n" not in message


def test_library_rejects_unknown_style_by_name():
    with pytest.raises(StyleError, match="unknown style 'jazz'"):
        StyleLibrary().get("jazz")


def test_broken_file_in_folder_is_reported(tmp_path):
    (tmp_path / "bad.toml").write_text("name = 'bad'\n[tempo\n")
    with pytest.raises(StyleError, match=r"style 'bad' .*invalid TOML"):
        StyleLibrary(tmp_path)
