#!/bin/sh
# Install the Debian/Raspberry Pi OS packages edge-music needs, only those missing.
# Usage: scripts/install-deps.sh [run|test|bench]
#   run   : what the daemon needs (ALSA headers to build pyalsaaudio, python venv)
#   test  : plus a Mosquitto broker and the ALSA plugins the test suite drives, Snapcast's
#           snapserver and snapclient (tests/test_snapcast.py plays through them, private ports only),
#           and libfluidsynth3 with FluidR3_GM, the SoundFont the packs prefer and their loudness is
#           calibrated with (tests/test_loudness.py), and the small TimGM6mb (the sampled-instrument tests)
#   bench : plus FluidSynth's command line (the peer `make bench` measures against)
# `run` needs none of FluidSynth: sampled tracks play their synth patches without it.
# As non-root without sudo it prints the exact apt-get line to run and exits 1.
set -eu

purpose="${1:-run}"
packages="libasound2-dev python3-venv python3-dev gcc"
case "$purpose" in
    run) ;;
    test) packages="$packages mosquitto mosquitto-clients openssl snapserver snapclient libfluidsynth3 timgm6mb-soundfont fluid-soundfont-gm" ;;
    bench) packages="$packages mosquitto mosquitto-clients openssl snapserver snapclient libfluidsynth3 timgm6mb-soundfont fluidsynth fluid-soundfont-gm" ;;
    *) echo "usage: $0 [run|test|bench]" >&2; exit 2 ;;
esac

# EDGE_MUSIC_APT_EXTRA adds packages to the check (the test suite uses it to see the non-root path).
packages="$packages ${EDGE_MUSIC_APT_EXTRA:-}"

missing=""
for pkg in $packages; do
    # A package counts as present when dpkg says it is installed; python3-venv and
    # python3-dev are skipped when a non-Debian Python (pyenv) already has venv.
    case "$pkg" in
        python3-venv|python3-dev)
            if python3 -c "import venv, sysconfig, os; assert os.path.exists(sysconfig.get_paths()['include'] + '/Python.h')" 2>/dev/null; then
                continue
            fi ;;
    esac
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done

[ -z "$missing" ] && exit 0

line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = "0" ]; then
    echo "edge-music: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
        apt-get update >/dev/null && apt-get install -y --no-install-recommends $missing >/dev/null
    }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "edge-music: installing$missing (sudo)"
    sudo DEBIAN_FRONTEND=noninteractive $line >/dev/null
else
    echo "edge-music: missing system packages. Run:  sudo $line" >&2
    exit 1
fi
