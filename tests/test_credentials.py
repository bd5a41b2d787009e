"""Content credentials: real C2PA signing and reading of real renders, no mocks.

A signed render verifies (exit 0) and names its generator, models and seed; one
flipped audio byte makes it tampered (exit 1); an unsigned WAV is exit 1; a file
that is not a WAV is one error line and exit 2; a broken key still gives a
playable WAV with LIST/INFO tags, one warning line and exit 0.
"""

import os
import stat
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from edge.audio.wav import WavSink, read_info
from edge.config import Config, CredentialsConfig
from edge.credentials import keys
from edge.credentials.manifest import build, info_tags, style_attribution
from edge.credentials.sign import sign_wav, signing_needs
from edge.music.style import StyleLibrary

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
ENV["EDGE_MUSIC_MQTT_ENABLED"] = "false"


def edge_music(cwd, *args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=cwd, timeout=120,
        env={**ENV, "PYTHONPATH": str(ROOT), **(env or {})},
    )  # fmt: skip


def signing_env(folder, mining="notAllowed"):
    return {
        "EDGE_MUSIC_CREDENTIALS_ENABLED": "true",
        "EDGE_MUSIC_CREDENTIALS_DIR": str(folder),
        "EDGE_MUSIC_CREDENTIALS_TRAINING_MINING": mining,
    }


def chunks(path):
    """(id, offset of the body, size) of every top-level RIFF chunk, parsed by hand."""
    raw = Path(path).read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    found, pos = [], 12
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        found.append((cid.decode("latin-1"), pos + 8, size))
        pos += 8 + size + (size & 1)
    assert pos == len(raw)
    return found


def info_of(path):
    """The LIST/INFO tags, parsed by hand (not with edge's own reader)."""
    raw = Path(path).read_bytes()
    for cid, body, size in chunks(path):
        if cid == "LIST" and raw[body : body + 4] == b"INFO":
            tags, pos = {}, body + 4
            while pos < body + size:
                sub, n = raw[pos : pos + 4].decode(), struct.unpack_from("<I", raw, pos + 4)[0]
                tags[sub] = raw[pos + 8 : pos + 8 + n].rstrip(b"\0").decode()
                pos += 8 + n + (n & 1)
            return tags
    return {}


def frames_of(path):
    with wave.open(str(path)) as w:
        return w.getnframes(), w.readframes(w.getnframes())


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """One 1-second render, signed with the device's own (new) credentials."""
    folder = tmp_path_factory.mktemp("signed")
    result = edge_music(
        folder, "render", "--quiet", "--seconds", "1", "--seed", "4", "--out", "a.wav",
        env=signing_env(folder / "creds", mining="allowed"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "not signed" not in result.stderr and "Traceback" not in result.stderr
    return folder / "a.wav", folder / "creds"


def test_a_signed_render_verifies_and_says_who_made_it_with_what(signed):
    path, _ = signed
    result = edge_music(path.parent, "verify", str(path))
    assert result.returncode == 0, (result.stdout, result.stderr)
    out = result.stdout
    assert "valid: unchanged since it was signed" in out
    assert "generator: edge-music 0.1.0" in out
    assert "trainedAlgorithmicMedia" in out or "algorithmicMedia" in out
    assert "model: tier" in out or "models: none" in out
    assert "seed: 4" in out and "session: " in out
    assert "AI training and data mining: allowed" in out  # the config reached the manifest
    assert "untrusted" in out  # honest: a device's own CA is on nobody's trust list
    assert result.stderr == ""


def test_a_signed_render_is_still_an_ordinary_wav_with_list_info(signed):
    path, _ = signed
    ids = [cid for cid, _, _ in chunks(path)]
    assert ids.index("LIST") < ids.index("data") and "C2PA" in ids
    tags = info_of(path)
    assert tags["ISFT"] == "edge-music 0.1.0"
    assert tags["INAM"].startswith("edge-music") and "seed 4" in tags["INAM"]
    assert tags["ICMT"] and read_info(path) == tags  # edge's own reader (used by verify) agrees
    n, _ = frames_of(path)
    assert n == 48000


def test_keys_are_private_and_the_chain_is_signer_then_ca(signed):
    _, folder = signed
    for name in (keys.SIGNER_KEY, keys.CA_KEY):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    from cryptography import x509

    certs = x509.load_pem_x509_certificates((folder / keys.SIGNER_CHAIN).read_bytes())
    basic = [c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca for c in certs]
    assert basic == [False, True]
    assert certs[0].issuer == certs[1].subject


def test_one_flipped_audio_byte_is_reported_as_tampered(signed, tmp_path):
    path, _ = signed
    raw = bytearray(path.read_bytes())
    _, body, size = next(c for c in chunks(path) if c[0] == "data")
    raw[body + size // 2] ^= 0x01
    changed = tmp_path / "changed.wav"
    changed.write_bytes(bytes(raw))
    result = edge_music(tmp_path, "verify", str(changed))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "CHANGED since it was signed" in result.stdout and "dataHash.mismatch" in result.stdout


def test_an_unsigned_wav_is_exit_1(tmp_path):
    path = tmp_path / "plain.wav"
    with WavSink(path, 48000, 2, "S16_LE", info=info_tags("plain", "unsigned")) as sink:
        sink.write(np.zeros((4800, 2), dtype=np.float32))
    result = edge_music(tmp_path, "verify", str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "unsigned" in result.stdout and "edge-music 0.1.0" in result.stdout


@pytest.mark.parametrize("content", [b"this is not audio at all\n" * 40, b"", None])
def test_a_file_that_is_not_a_wav_is_one_line_and_exit_2(tmp_path, content):
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    result = edge_music(tmp_path, "verify", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert result.stderr.startswith("edge-music: error:") and str(path) in result.stderr


def test_a_broken_key_still_writes_the_music_with_one_line(tmp_path):
    creds = tmp_path / "creds"
    keys.create(creds)
    secret = (creds / keys.SIGNER_KEY).read_text()
    (creds / keys.SIGNER_KEY).write_text(secret[:60] + "garbage\n" + secret[60:])
    result = edge_music(
        tmp_path, "render", "--quiet", "--seconds", "1", "--out", "b.wav", env=signing_env(creds)
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "not signed" in line]
    assert len(warnings) == 1 and "private key" in warnings[0]
    assert "Traceback" not in result.stderr and "PRIVATE" not in result.stderr  # no key material
    n, audio = frames_of(tmp_path / "b.wav")
    assert n == 48000 and any(audio)
    assert info_of(tmp_path / "b.wav")["ISFT"] == "edge-music 0.1.0"
    assert "C2PA" not in [cid for cid, _, _ in chunks(tmp_path / "b.wav")]


def daemon_recording(tmp_path, env):
    """Run the daemon into its WAV sink for a few seconds; (result, path of the recording)."""
    wav = tmp_path / "session.wav"
    sink = {"EDGE_MUSIC_AUDIO_SINK": "wav", "EDGE_MUSIC_AUDIO_WAV_PATH": str(wav)}
    result = subprocess.run(
        [sys.executable, "-m", "edge", "run"], capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**ENV, "PYTHONPATH": str(ROOT), "EDGE_MUSIC_GPIO_ENABLED": "false",
             "EDGE_MUSIC_STOP_AFTER": "3", **sink, **env},
    )  # fmt: skip
    return result, wav


def test_the_daemons_recording_is_signed_when_it_stops(tmp_path):
    result, wav = daemon_recording(tmp_path, signing_env(tmp_path / "creds"))
    assert result.returncode == 0, result.stderr
    assert f"signed {wav}" in result.stderr
    check = edge_music(tmp_path, "verify", str(wav))
    assert check.returncode == 0, (check.stdout, check.stderr)
    assert "trainedAlgorithmicMedia" in check.stdout or "algorithmicMedia" in check.stdout
    assert info_of(wav)["ISFT"] == "edge-music 0.1.0" and info_of(wav)["ICMT"] == "AI-generated music"


def test_a_recording_whose_key_is_gone_still_plays_and_says_so_once(tmp_path):
    creds = tmp_path / "creds"
    keys.create(creds)
    (creds / keys.SIGNER_KEY).unlink()  # the key is gone; its certificate is left
    result, wav = daemon_recording(tmp_path, signing_env(creds))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "not signed" in line]
    assert len(warnings) == 1 and str(wav) in warnings[0]
    assert "Traceback" not in result.stderr
    n, audio = frames_of(wav)
    assert n > 48000 and any(audio)  # the music played into the file all the same
    assert edge_music(tmp_path, "verify", str(wav)).returncode == 1  # unsigned, and says so


def test_a_missing_key_beside_its_certificate_is_not_silently_replaced(tmp_path):
    creds = tmp_path / "creds"
    keys.create(creds)
    (creds / keys.SIGNER_KEY).unlink()
    path = tmp_path / "c.wav"
    with WavSink(path, 48000, 2, "S16_LE") as sink:
        sink.write(np.zeros((480, 2), dtype=np.float32))
    before = path.read_bytes()
    why = sign_wav(path, build(title="c", seed=1, session="s", style={"name": "focus"}, models=[]),
                   CredentialsConfig(dir=str(creds)))  # fmt: skip
    assert why and "private key" in why and "\n" not in why
    assert path.read_bytes() == before and not (creds / keys.SIGNER_KEY).exists()


def test_an_organisations_own_certificate_signs_instead(tmp_path):
    org = tmp_path / "org"
    keys.create(org, device="Example Radio")
    path = tmp_path / "o.wav"
    with WavSink(path, 48000, 1, "S16_LE") as sink:
        sink.write(np.zeros((480, 1), dtype=np.float32))
    config = CredentialsConfig(
        dir=str(tmp_path / "unused"), cert=str(org / keys.SIGNER_CHAIN), key=str(org / keys.SIGNER_KEY)
    )
    manifest = build(
        title="o", seed=7, session="s", style=style_attribution(StyleLibrary().get("focus")), models=[]
    )
    assert sign_wav(path, manifest, config) is None
    assert not (tmp_path / "unused").exists()
    from edge.credentials.verify import verify_command

    class Out(list):
        def write(self, s):
            self.append(s)

    out, err = Out(), Out()
    assert verify_command(str(path), out=out, err=err) == 0
    text = "".join(out)
    assert "edge-music on Example Radio" in text and "algorithmicMedia" in text and "seed: 7" in text
    wrong = CredentialsConfig(cert=str(org / keys.SIGNER_CHAIN), key=str(org / keys.CA_KEY))
    assert "does not match" in sign_wav(path, manifest, wrong)


def test_the_credentials_section_is_in_the_config():
    assert Config().credentials.training_mining == "notAllowed"
    result = edge_music(ROOT, "config", "--example")
    assert result.returncode == 0 and "[credentials]" in result.stdout and "training_mining" in result.stdout
    assert read_info  # the reader used by verify for unsigned files


def test_concurrent_first_use_makes_one_matching_pair(tmp_path):
    """The daemon and a render starting together on first boot never mix two new key pairs."""
    from concurrent.futures import ThreadPoolExecutor

    folder = tmp_path / "creds"
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: keys.load(folder), range(4)))
    assert len({c.chain_pem for c in made}) == 1 and len({c.key_pem for c in made}) == 1
    keys.load(folder, create_missing=False)  # the pair on disk matches


def test_the_credentials_command_shows_or_creates_the_signer(tmp_path):
    env = {"EDGE_MUSIC_CREDENTIALS_DIR": str(tmp_path / "creds")}
    missing = edge_music(tmp_path, "credentials", env=env)
    assert missing.returncode == 1 and "credentials --init" in missing.stderr
    assert not (tmp_path / "creds" / keys.SIGNER_KEY).exists()  # showing never creates
    made = edge_music(tmp_path, "credentials", "--init", env=env)
    assert made.returncode == 0, made.stderr
    assert "sha256 fingerprint:" in made.stdout and "signing: on" in made.stdout
    assert (tmp_path / "creds" / keys.SIGNER_KEY).stat().st_mode & 0o777 == 0o600
    assert "PRIVATE" not in made.stdout + made.stderr
    again = edge_music(tmp_path, "credentials", env=env)
    assert again.returncode == 0 and again.stdout == made.stdout  # the same pair, not a new one


def test_a_file_too_large_for_the_memory_left_stays_unsigned_with_one_line(tmp_path):
    # c2pa holds the file and its signed copy in memory: a day's recording on a small board would
    # run it out of memory, so signing needs room for that, and says so in one line when it has none.
    creds = tmp_path / "creds"
    keys.create(creds)
    path = tmp_path / "long.wav"
    with WavSink(path, 48000, 2, "S16_LE") as sink:
        sink.write(np.full((48000, 2), 0.1, dtype=np.float32))
    before = path.read_bytes()
    manifest = build(title="long", seed=1, session="s", style={"name": "focus"}, models=[])
    config = CredentialsConfig(dir=str(creds))
    needs = signing_needs(len(before))
    assert needs > 2.9 * len(before)
    why = sign_wav(path, manifest, config, available=needs - 1)
    assert why is not None and "\n" not in why
    assert str(path) in why and "memory" in why and "available" in why
    assert path.read_bytes() == before
    assert sign_wav(path, manifest, config, available=needs) is None
    assert "C2PA" in [cid for cid, _, _ in chunks(path)]
