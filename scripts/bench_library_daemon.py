"""The daemon's memory and underruns around a library track, in real time: start with one track in
the library (a 2-minute WAV to analyse, or the same 16-bar piece as MIDI), idle 15 s, choose it
once offered, switch to its original after 20 s, 20 s more. The daemon plays into alsa-lib's
``file`` plugin writing into a pipe read at real time (as the tests do), with a private broker.
Prints the process's RSS (sampled every 50 ms) at each step, its peak and in which step, and the
sink's underrun count from the MQTT state.

    python scripts/bench_library_daemon.py [--kind wav|midi]

Needs mosquitto and the tests' helpers (run from the repository). Each run takes about a minute
and a half.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from tests.alsa_env import SYSTEM_CONF, AlsaEnv  # noqa: E402
from tests.broker import Mosquitto, Probe  # noqa: E402
from tests.test_session import PacedCapture  # noqa: E402

BASE = "edge-music/bench"
DISCOVERY = "homeassistant/device/bench/config"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kind", choices=("wav", "midi"), default="wav")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        for name in ("alsa", "home", "state", "library", "mqtt"):
            (root / name).mkdir()
        if args.kind == "wav":
            from bench_audio_track import make_track

            make_track(root / "library", 2.0)
            (root / "library" / "song.mid").unlink()  # make_track leaves the MIDI beside it
        else:
            import analysis_pieces as pieces

            pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(root / "library" / "track.mid"))
        alsa = AlsaEnv(root / "alsa")
        capture = PacedCapture(root / "pcm.fifo", speed=1.0)
        alsa.define("paced", f'type file slave.pcm "null" file "{capture.path}" format "raw"')
        with Mosquitto(root / "mqtt") as broker:
            env = {**os.environ, "HOME": str(root / "home"), "XDG_STATE_HOME": str(root / "state"),
                   "ALSA_CONFIG_PATH": f"{SYSTEM_CONF}:{alsa.conf_path}", "EDGE_MUSIC_AUDIO_DEVICE": "paced",
                   "EDGE_MUSIC_GPIO_ENABLED": "false", "EDGE_MUSIC_MQTT_HOST": "127.0.0.1",
                   "EDGE_MUSIC_MQTT_PORT": str(broker.port), "EDGE_MUSIC_MQTT_DEVICE_ID": "bench",
                   "EDGE_MUSIC_GENERATOR_TIER": "0", "EDGE_MUSIC_LIBRARY_DIR": str(root / "library"),
                   "EDGE_MUSIC_LIBRARY_STYLE": "house", "EDGE_MUSIC_LIBRARY_REPEAT": "true"}  # fmt: skip
            daemon = subprocess.Popen([sys.executable, "-m", "edge", "run"], cwd=root, env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
            process = psutil.Process(daemon.pid)
            peak = {"rss": 0.0, "step": ""}
            step = ["starting, the analysis"]

            def watch() -> None:
                while daemon.poll() is None:
                    try:
                        rss = process.memory_info().rss / 2**20
                    except psutil.Error:
                        return
                    if rss > peak["rss"]:
                        peak.update(rss=rss, step=step[0])
                    time.sleep(0.05)

            threading.Thread(target=watch, daemon=True).start()
            try:
                topics = [f"{BASE}/availability", f"{BASE}/state", DISCOVERY]
                with Probe(broker.port, subscribe=topics) as probe:
                    probe.wait(f"{BASE}/availability", lambda m: m.payload == b"online", timeout=60)
                    probe.wait(DISCOVERY, lambda m: b'"track"' in m.payload, timeout=300)
                    time.sleep(15)
                    print(f"idle, the track offered: RSS {process.memory_info().rss / 2**20:.0f} MiB")
                    step[0] = "the track playing"
                    probe.publish(f"{BASE}/set", json.dumps({"track": "track"}))
                    time.sleep(20)
                    print(f"20 s into the track: RSS {process.memory_info().rss / 2**20:.0f} MiB")
                    probe.publish(f"{BASE}/set", json.dumps({"version": "toggle"}))
                    time.sleep(20)
                    probe.clear()
                    state = json.loads(probe.wait(f"{BASE}/state", timeout=30).payload)
                    print(f"20 s after the switch: RSS {process.memory_info().rss / 2**20:.0f} MiB, "
                          f"version {state.get('version')}, underruns {state.get('underruns')}")  # fmt: skip
            finally:
                daemon.terminate()
                daemon.wait(30)
        capture.finish()
    print(f"peak RSS {peak['rss']:.0f} MiB ({peak['step']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
