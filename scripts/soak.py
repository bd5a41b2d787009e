#!/usr/bin/env python3
"""``make soak``: real-time playback under stress, with the figures that matter for months of uptime.

The daemon plays through real ALSA (a private config: the ``file`` plugin writing into a
named pipe). This script reads the pipe at exactly 48 kHz, like a sound card would, and counts
every period that was not there in time: an underrun heard by the listener. Meanwhile a CPU hog
spins on one core, a client publishes context changes every few seconds, and the broker is
killed and restarted. At the end: underruns, RSS growth after warm-up (mean of a window after
warm-up against the mean of the last window, and the RSS sampled every 10 s), threads and file
descriptors before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.broker import Mosquitto  # noqa: E402  (the test suite's real-broker helper)

RATE, CHANNELS, BYTES = 48000, 2, 2
PERIOD = 1024
COMMANDS = [
    {"style": "focus"}, {"style": "workout"}, {"style": "ambient"}, {"style": "house"},
    {"mood": "happy"}, {"mood": "calm"}, {"energy": 0.2}, {"energy": 0.9}, {"tempo": 128},
    {"tempo": "auto"}, {"volume": 60}, {"volume": 80}, {"section": "build"}, {"skip": True},
]  # fmt: skip


class PacedReader(threading.Thread):
    """Reads the pipe like a DAC: one period every period, counting periods that were late.

    It takes exactly one period per period and never more, so the daemon is held to real time by
    the pipe filling up (about 0.34 s of audio, plus ALSA's own buffer), as a sound card would hold
    it; a reader that drained everything available would let the daemon run ahead and hide gaps.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.underruns = 0
        self.frames = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        need = PERIOD * CHANNELS * BYTES
        pending = bytearray()
        # Pre-roll: a card starts once its buffer holds a few periods.
        while len(pending) < 4 * need and not self.stop_event.is_set():
            pending += os.read(fd, 4 * need - len(pending))
        os.set_blocking(fd, False)
        period_s = PERIOD / RATE
        deadline = time.monotonic()
        late = False
        while not self.stop_event.is_set():
            deadline += period_s
            time.sleep(max(0.0, deadline - time.monotonic()))
            try:
                while len(pending) < need and (chunk := os.read(fd, need - len(pending))):
                    pending += chunk
            except BlockingIOError:
                pass
            if len(pending) >= need:
                del pending[:need]
                self.frames += PERIOD
                late = False
            elif not late:  # count a burst once, as ALSA's -EPIPE would
                self.underruns += 1
                late = True
        os.close(fd)


def hog_one_core() -> subprocess.Popen:
    """A busy loop pinned to CPU 0: the daemon must still keep time on the other core."""
    code = "import os; os.sched_setaffinity(0, {0})\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def measure(process: psutil.Process) -> dict[str, float]:
    return {
        "rss_mb": process.memory_info().rss / 2**20,
        "threads": process.num_threads(),
        "fds": process.num_fds(),
    }


def window_means(timeline: list[tuple[float, float]], warm_at: float, total: float) -> tuple[float, float]:
    """Mean RSS over a window just after warm-up and over the last window (a sixth of the run, <= 2 min).

    Single samples wobble by several MB as the allocator takes and returns pages (docs/reliability.md
    shows the curve); a leak moves the mean, the wobble does not.
    """
    window = min(120.0, total / 6)
    first = [rss for t, rss in timeline if warm_at <= t < warm_at + window]
    last = [rss for t, rss in timeline if t >= total - window]
    return sum(first) / max(1, len(first)), sum(last) / max(1, len(last))


def band(timeline: list[tuple[float, float]], warm_at: float) -> tuple[float, float]:
    """Lowest and highest RSS sampled after warm-up."""
    after = [rss for t, rss in timeline if t >= warm_at] or [0.0]
    return min(after), max(after)


def soak(minutes: float, restarts: int, hog: bool, tier: str = "auto", keep_log: Path | None = None) -> dict:
    import paho.mqtt.client as mqtt

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pipe = work / "dac.fifo"
        os.mkfifo(pipe)
        conf = work / "asound.conf"
        conf.write_text(
            f'pcm.soak {{ type file slave.pcm "null" file "{pipe}" format "raw" }}\n'
            'pcm.!default { type plug slave.pcm "soak" }\n'
        )
        broker = Mosquitto(work)
        broker.start()
        reader = PacedReader(pipe)
        reader.start()
        env = {
            **os.environ,
            "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}",
            "XDG_STATE_HOME": str(work / "state"),  # its own ledger, logs and caches: soaks run side by side
            "EDGE_MUSIC_MQTT_PORT": str(broker.port),
            "EDGE_MUSIC_MQTT_HOST": broker.host,
            "EDGE_MUSIC_MQTT_DEVICE_ID": "soak",
            "EDGE_MUSIC_GPIO_ENABLED": "false",
            "EDGE_MUSIC_AUDIO_FALLBACK_TO_WAV": "false",
            "EDGE_MUSIC_MUSIC_SEED": "1",
            "EDGE_MUSIC_GENERATOR_TIER": tier,
        }
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge", "run"], env=env, cwd=work,
            stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "w"),  # noqa: SIM115
        )  # fmt: skip
        hogger = hog_one_core() if hog else None
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.connect_async(broker.host, broker.port)
        client.reconnect_delay_set(1, 2)
        client.loop_start()
        process = psutil.Process(daemon.pid)
        rng = random.Random(1)
        total = minutes * 60
        # The synth's bounded caches (loops 16 MB, envelopes 4 MB, prepared loops 2 MB) fill over the
        # first minutes of real-time playing as styles and pitches come by: RSS climbs for about 4.
        warm_at = min(300.0, total * 0.5)
        sample_every = min(10.0, total / 60)
        restart_times = [total * (i + 1) / (restarts + 1) for i in range(restarts)]
        started = time.monotonic()
        warm = None
        timeline: list[tuple[float, float]] = []
        next_command = next_sample = 0.0
        try:
            while (elapsed := time.monotonic() - started) < total:
                if daemon.poll() is not None:
                    raise SystemExit(f"soak: the daemon exited with {daemon.returncode}")
                if warm is None and elapsed >= warm_at:
                    warm = measure(process)
                if elapsed >= next_sample:  # the RSS curve tells a cache filling up from a leak
                    timeline.append((round(elapsed, 1), round(measure(process)["rss_mb"], 1)))
                    next_sample = elapsed + sample_every
                if restart_times and elapsed >= restart_times[0]:
                    restart_times.pop(0)
                    broker.restart(kill=True)
                if elapsed >= next_command:
                    client.publish("edge-music/soak/set", json.dumps(rng.choice(COMMANDS)))
                    next_command = elapsed + rng.uniform(2.0, 5.0)
                time.sleep(0.2)
            end = measure(process)
        finally:
            client.loop_stop()
            if hogger is not None:
                hogger.kill()
            daemon.terminate()
            try:
                daemon.wait(10)
            except subprocess.TimeoutExpired:
                daemon.kill()
            reader.stop_event.set()
            broker.stop()
        log = (work / "daemon.log").read_text()
        if keep_log is not None:
            keep_log.write_text(log)
    warm = warm or end
    rss_warm, rss_end = window_means(timeline, warm_at, total)
    return {
        "minutes": minutes,
        "broker_restarts": restarts,
        "cpu_hog": hog,
        "underruns_at_reader": reader.underruns,
        "seconds_played": round(reader.frames / RATE, 1),
        "rss_warm_mb": round(rss_warm, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_mb": round(rss_end - rss_warm, 2),
        "rss_band_mb": band(timeline, warm_at),
        "threads_warm": warm["threads"],
        "threads_end": end["threads"],
        "fds_warm": warm["fds"],
        "fds_end": end["fds"],
        "tracebacks": log.count("Traceback"),
        "exit_code": daemon.returncode,
        "tier_switches": [
            line.split(": ", 1)[-1]
            for line in log.splitlines()
            if "generator tier" in line or "thermal:" in line
        ],
        "rss_timeline": timeline,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--no-hog", action="store_true", help="skip the competing CPU hog")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    parser.add_argument("--tier", default="auto", choices=("auto", "0", "S", "M", "L"),
                        help="generator.tier for the daemon (default auto: the neural tiers)")  # fmt: skip
    parser.add_argument("--log", type=Path, help="keep the daemon's log here")
    args = parser.parse_args()
    result = soak(args.minutes, args.restarts, not args.no_hog, args.tier, args.log)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>22}: {value}")
    ok = (
        result["underruns_at_reader"] == 0
        and result["rss_growth_mb"] <= 5
        and result["threads_end"] <= result["threads_warm"]
        and result["fds_end"] <= result["fds_warm"]
        and result["tracebacks"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
