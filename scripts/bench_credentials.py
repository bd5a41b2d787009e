"""What content credentials cost: signing a 60 s render, and verifying it.

    python scripts/bench_credentials.py [--out docs/benchmarks.md] [--repeats 5]

A 60 s render (tier 0, seed 1) is written unsigned once; then a copy of it is signed
``--repeats`` times with ``edge.credentials.sign.sign_render`` (the call ``render``, ``replay``,
``reimagine`` and the daemon's WAV sink make), and verified as many times, each timed in CPU-s
of this process (the c2pa library works in the calling thread). The figures replace the
``bench_credentials`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_sections import write_section  # noqa: E402

SECONDS = 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["XDG_STATE_HOME"] = str(work / "state")  # keys of this run's own
        os.environ.pop("STATE_DIRECTORY", None)
        env = {**os.environ, "EDGE_MUSIC_CREDENTIALS_ENABLED": "false"}
        plain = work / "plain.wav"
        subprocess.run(
            [sys.executable, "-m", "edge", "render", "--quiet", "--seconds", str(SECONDS), "--tier", "0",
             "--seed", "1", "--out", str(plain)], env=env, check=True, capture_output=True,
        )  # fmt: skip
        from edge.config import Config
        from edge.credentials import keys
        from edge.credentials.sign import sign_render
        from edge.credentials.verify import verify_command
        from edge.generator.registry import TierRegistry
        from edge.music.style import StyleLibrary

        keys.load(keys.default_dir())  # first use makes the device's keys: not part of signing
        config, registry, style = Config(), TierRegistry(), StyleLibrary().get("focus")
        signing, checking, added = [], [], 0
        for i in range(args.repeats):
            copy = work / f"signed-{i}.wav"
            shutil.copyfile(plain, copy)
            started = time.process_time()
            why = sign_render(copy, config, styles=[style], seed=1, tiers=["0"], registry=registry)
            signing.append(time.process_time() - started)
            if why:
                raise SystemExit(f"bench_credentials: not signed: {why}")
            added = copy.stat().st_size - plain.stat().st_size
            with open(os.devnull, "w") as quiet:
                started = time.process_time()
                code = verify_command(str(copy), out=quiet, err=quiet)
                checking.append(time.process_time() - started)
            if code != 0:
                raise SystemExit("bench_credentials: the signed file did not verify")
        size = plain.stat().st_size
    sign, check = statistics.median(signing), statistics.median(checking)
    body = "\n".join(
        [
            "## Content credentials (C2PA)",
            "",
            f"`python scripts/bench_credentials.py --repeats {args.repeats}` on {time.strftime('%Y-%m-%d')}, "
            f"{platform.machine()}, {os.cpu_count()} cores: a {SECONDS} s render (tier 0, seed 1, "
            f"{size / 2**20:.1f} MiB) signed and verified {args.repeats} times, CPU-s of the "
            "calling thread (median).",
            "",
            "| step | CPU-s (median) | min | max | per audio-s |",
            "|---|---|---|---|---|",
            f"| sign (build the manifest, hash the audio, ES256, embed) | {sign:.3f} | {min(signing):.3f} | "
            f"{max(signing):.3f} | {sign / SECONDS:.4f} |",
            f"| verify (`edge-music verify`) | {check:.3f} | {min(checking):.3f} | {max(checking):.3f} | "
            f"{check / SECONDS:.4f} |",
            "",
            f"The manifest adds {added / 1024:.1f} KiB to the file. Signing happens after the last sample is "
            "written (render, replay, reimagine) or after the daemon's WAV sink is closed: the audio path "
            "never waits on it.",
        ]
    )
    write_section(Path(args.out), "bench_credentials", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
