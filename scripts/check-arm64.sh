#!/bin/sh
# Does edge-music really install and render on arm64 (Raspberry Pi OS bookworm = Debian 12 arm64)?
# Run by hand as root on a Debian 12 x86-64 machine; not part of CI.
#
#   sudo scripts/check-arm64.sh [DIR]
#
# 1. installs qemu-user-static, debootstrap and binfmt-support on the host if missing;
# 2. makes sure binfmt_misc runs aarch64 binaries through qemu (mounts it / enables it if needed);
# 3. builds a minimal Debian bookworm arm64 root file system in DIR (default /var/tmp/edge-arm64,
#    or $EDGE_ARM64_DIR), reused on later runs;
# 4. inside it: apt-installs python3, venv, pip, ALSA headers and gcc, makes a venv and pip-installs
#    the committed tree (`git archive HEAD`): numpy and onnxruntime as aarch64 wheels, pyalsaaudio
#    built from its sdist;
# 5. installs the same commit in an x86-64 venv (DIR.x86), renders
#      edge-music render --seconds 10 --style focus --seed 1
#    on both, compares duration, sample rate, channels and RMS, and prints the CPU times.
#
# 6. with EDGE_ARM64_TESTS set (pytest arguments, e.g. "tests/test_neural.py tests/test_graph.py"):
#    installs the dev and train extras (pytest, torch, ...) in the arm64 venv and runs those tests
#    there on the committed tree, under qemu: expect 15-25x the native time.
#
# Everything arm64 runs on an emulated Cortex-A72, the Raspberry Pi 4's core (EDGE_ARM64_CPU: any
# `qemu-aarch64 -cpu help` name, e.g. cortex-a76 for a Pi 5). qemu's default CPU, "max", has SVE,
# which no Pi has, and torch's SVE kernels compute wrong results under qemu 7.2's emulation of it
# (logits off by up to 11 against the same model on x86-64 or on an emulated A72/A76).
#
# Environment: EDGE_ARM64_DIR (the root fs), EDGE_ARM64_SECONDS (render length, default 10),
# EDGE_ARM64_RMS_DB (allowed RMS difference in dB, default 0.5), EDGE_ARM64_MIRROR
# (default http://deb.debian.org/debian), EDGE_ARM64_CPU, EDGE_ARM64_TESTS (see 6). Logs:
# DIR.debootstrap.log, DIR.apt.log, DIR.pip.log, DIR.x86.pip.log, DIR.pytest.log. Exit status 0
# only when every step passed. Results: docs/reliability.md.
set -eu

DIR="${1:-${EDGE_ARM64_DIR:-/var/tmp/edge-arm64}}"
SECONDS_="${EDGE_ARM64_SECONDS:-10}"
RMS_DB="${EDGE_ARM64_RMS_DB:-0.5}"
MIRROR="${EDGE_ARM64_MIRROR:-http://deb.debian.org/debian}"
TESTS="${EDGE_ARM64_TESTS:-}"
# qemu-user reads QEMU_CPU from the environment of every arm64 process it starts (through binfmt too).
export QEMU_CPU="${EDGE_ARM64_CPU:-cortex-a72}"
SUITE=bookworm
HOSTDIR="$DIR.x86"
RENDER_ARGS="render --seconds $SECONDS_ --style focus --seed 1 --quiet"

say() { echo "check-arm64: $*"; }
die() { echo "check-arm64: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap, chroot and mounts need it)"
command -v git >/dev/null || die "git is needed to export the committed tree"
REPO="$(git -C "$(dirname "$0")" rev-parse --show-toplevel)" || die "not inside the edge-music git tree"
COMMIT="$(git -C "$REPO" rev-parse HEAD)"
case "$DIR" in /|/usr|/var|/tmp|/var/tmp|/home|/root|"") die "refusing DIR=$DIR";; esac

# --- 1. host packages -------------------------------------------------------------------------
missing=""
for pkg in qemu-user-static debootstrap binfmt-support libasound2-dev gcc; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    say "installing on the host:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing >/dev/null 2>&1 || {
        apt-get update >/dev/null && apt-get install -y --no-install-recommends $missing >/dev/null
    } || die "apt-get install$missing failed on the host"
fi
QEMU=/usr/bin/qemu-aarch64-static
[ -x "$QEMU" ] || die "$QEMU missing after installing qemu-user-static"

# --- 2. binfmt_misc -----------------------------------------------------------------------------
BINFMT=/proc/sys/fs/binfmt_misc
if [ ! -e "$BINFMT/qemu-aarch64" ]; then
    if [ ! -e "$BINFMT/register" ]; then
        say "mounting binfmt_misc on $BINFMT"
        mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null || true
    fi
    update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
    if [ ! -e "$BINFMT/qemu-aarch64" ] && [ -e /usr/lib/binfmt.d/qemu-aarch64.conf ] \
            && [ -w "$BINFMT/register" ]; then
        # systemd-style line ":name:type:offset:magic:mask:interpreter:flags"
        sed -n 's/^\(:qemu-aarch64:.*\)$/\1/p' /usr/lib/binfmt.d/qemu-aarch64.conf > "$BINFMT/register" || true
    fi
fi
if [ ! -e "$BINFMT/qemu-aarch64" ] || ! grep -q '^enabled' "$BINFMT/qemu-aarch64"; then
    die "binfmt_misc has no enabled qemu-aarch64 entry and it could not be registered here
  (no permission to mount binfmt_misc in this container?). debootstrap's second stage runs
  dpkg and maintainer scripts that exec further arm64 binaries, which qemu-user cannot follow
  without binfmt_misc, so this check cannot run here. On a host: update-binfmts --enable qemu-aarch64"
fi
say "binfmt_misc: qemu-aarch64 $(sed -n 's/^interpreter //p' "$BINFMT/qemu-aarch64") (flags: $(sed -n 's/^flags: //p' "$BINFMT/qemu-aarch64"))"

# --- 3. arm64 root fs -----------------------------------------------------------------------------
if [ -e "$DIR/.edge-rootfs-done" ]; then
    say "reusing the arm64 root fs in $DIR"
else
    if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
        # Only a half-built root fs of ours is thrown away; anything else is left alone.
        [ -e "$DIR/.edge-rootfs-started" ] || die "$DIR exists, is not empty and was not made by this script"
        say "removing the unfinished root fs in $DIR"
        for m in dev/pts dev proc sys; do
            if mountpoint -q "$DIR/$m"; then umount -l "$DIR/$m"; fi
        done
        rm -rf --one-file-system "$DIR"
    fi
    mkdir -p "$DIR"
    touch "$DIR/.edge-rootfs-started"
    say "debootstrap stage 1: $SUITE arm64 minbase from $MIRROR into $DIR"
    debootstrap --foreign --variant=minbase --arch=arm64 "$SUITE" "$DIR" "$MIRROR" >"$DIR.debootstrap.log" 2>&1 \
        || die "debootstrap stage 1 failed, see $DIR.debootstrap.log"
    cp "$QEMU" "$DIR/usr/bin/"
    say "debootstrap stage 2 (runs arm64 dpkg under qemu, a few minutes)"
    chroot "$DIR" /debootstrap/debootstrap --second-stage >>"$DIR.debootstrap.log" 2>&1 \
        || die "debootstrap stage 2 failed, see $DIR.debootstrap.log and $DIR/debootstrap/debootstrap.log"
    touch "$DIR/.edge-rootfs-done"
fi
[ -x "$DIR/usr/bin/qemu-aarch64-static" ] || cp "$QEMU" "$DIR/usr/bin/"
[ "$(chroot "$DIR" uname -m)" = aarch64 ] || die "chroot $DIR does not report aarch64 (EDGE_ARM64_CPU=$QEMU_CPU: a CPU qemu knows?)"
say "arm64 processes run on an emulated $QEMU_CPU"

# Mounts the chroot needs for apt and pip, and a scratch folder; undone on exit, whatever happens.
mounted=""
WORK="$(mktemp -d)"
cleanup() {
    for m in $mounted; do umount -l "$DIR/$m" 2>/dev/null || true; done
    rm -rf "$WORK" "$DIR/tmp/edge-onnx-probe.py"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# /sys is deliberately not mounted: qemu-user 7.2 shows the guest the host's x86 /proc/cpuinfo, and
# onnxruntime's cpuinfo library (arm64 build) segfaults when it also finds the host's CPU lists in
# /sys. Without /sys it only warns and falls back. Nothing here needs /sys.
for m in proc dev dev/pts; do
    if mountpoint -q "$DIR/$m"; then continue; fi
    case "$m" in
        proc) mount -t proc proc "$DIR/proc" ;;
        dev) mount --bind /dev "$DIR/dev" ;;
        dev/pts) mount --bind /dev/pts "$DIR/dev/pts" ;;
    esac
    mounted="$m $mounted"
done
cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true
# pip inside trusts what the host trusts: the host's CA bundle (which holds any local CA, e.g. of a
# TLS-inspecting proxy) goes in as a file of its own; the chroot's own certificates are untouched.
HOST_CA="${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}"
[ -r "$HOST_CA" ] || die "no CA bundle on the host at $HOST_CA (set SSL_CERT_FILE)"
cp "$HOST_CA" "$DIR/etc/edge-host-ca.crt"

inside() {
    chroot "$DIR" /usr/bin/env -i QEMU_CPU="$QEMU_CPU" HOME=/root PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 \
        PIP_CERT=/etc/edge-host-ca.crt SSL_CERT_FILE=/etc/edge-host-ca.crt \
        ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} \
        ${no_proxy:+no_proxy=$no_proxy} "$@"
}

# --- 4. packages, venv and the project inside --------------------------------------------------
PKGS="python3 python3-venv python3-pip python3-dev libasound2-dev gcc"
missing=""
for pkg in $PKGS; do
    # shellcheck disable=SC2016
    inside dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    say "apt-get install inside the arm64 root fs:$missing"
    # shellcheck disable=SC2086
    inside sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q --no-install-recommends $missing" \
        >"$DIR.apt.log" 2>&1 || die "apt-get install inside the chroot failed, see $DIR.apt.log"
fi

# The committed tree only: what a Pi would get from a clone of this commit.
export_tree() {  # $1 = destination directory
    rm -rf "$1"; mkdir -p "$1"
    git -C "$REPO" archive --format=tar "$COMMIT" | tar -x -C "$1"
}

if [ "$(cat "$DIR/opt/edge-venv/.edge-commit" 2>/dev/null || true)" != "$COMMIT" ]; then
    say "pip install of $COMMIT into the arm64 venv (pyalsaaudio compiles under qemu: slow)"
    export_tree "$DIR/opt/edge-src"
    [ -x "$DIR/opt/edge-venv/bin/python" ] || inside python3 -m venv /opt/edge-venv \
        || die "python3 -m venv failed inside the chroot"
    inside /opt/edge-venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip \
        >"$DIR.pip.log" 2>&1 || die "pip upgrade failed inside the chroot, see $DIR.pip.log"
    inside /opt/edge-venv/bin/python -m pip install --disable-pip-version-check /opt/edge-src \
        >>"$DIR.pip.log" 2>&1 || die "pip install failed inside the chroot, see $DIR.pip.log"
    inside /opt/edge-venv/bin/python -m pip install --disable-pip-version-check --force-reinstall --no-deps \
        /opt/edge-src >>"$DIR.pip.log" 2>&1 || die "pip install failed inside the chroot, see $DIR.pip.log"
    echo "$COMMIT" > "$DIR/opt/edge-venv/.edge-commit"
fi
if [ -n "$TESTS" ] && [ "$(cat "$DIR/opt/edge-venv/.edge-test-commit" 2>/dev/null || true)" != "$COMMIT" ]; then
    say "pip install of the dev and train extras into the arm64 venv (torch's aarch64 wheel: large)"
    inside /opt/edge-venv/bin/python -m pip install --disable-pip-version-check "/opt/edge-src[dev,train]" \
        >>"$DIR.pip.log" 2>&1 || die "pip install of the test extras failed inside the chroot, see $DIR.pip.log"
    echo "$COMMIT" > "$DIR/opt/edge-venv/.edge-test-commit"
fi

if [ "$(cat "$HOSTDIR/venv/.edge-commit" 2>/dev/null || true)" != "$COMMIT" ]; then
    say "pip install of $COMMIT into the x86-64 venv $HOSTDIR/venv"
    export_tree "$HOSTDIR/src"
    [ -x "$HOSTDIR/venv/bin/python" ] || python3 -m venv "$HOSTDIR/venv" || die "python3 -m venv failed on the host"
    "$HOSTDIR/venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip \
        >"$HOSTDIR.pip.log" 2>&1 || die "pip upgrade failed on the host, see $HOSTDIR.pip.log"
    "$HOSTDIR/venv/bin/python" -m pip install --disable-pip-version-check "$HOSTDIR/src" \
        >>"$HOSTDIR.pip.log" 2>&1 || die "pip install failed on the host, see $HOSTDIR.pip.log"
    "$HOSTDIR/venv/bin/python" -m pip install --disable-pip-version-check --force-reinstall --no-deps \
        "$HOSTDIR/src" >>"$HOSTDIR.pip.log" 2>&1 || die "pip install failed on the host, see $HOSTDIR.pip.log"
    echo "$COMMIT" > "$HOSTDIR/venv/.edge-commit"
fi

# What is installed where: the platform tags pip chose, and the native modules import.
IMPORTS='import platform, numpy, onnxruntime, alsaaudio, edge.daemon, edge.render_cli
from importlib.metadata import version as v
print(platform.machine(), "python", platform.python_version(), "numpy", v("numpy"),
      "onnxruntime", v("onnxruntime"), "pyalsaaudio", v("pyalsaaudio"),
      "onnx providers", ",".join(onnxruntime.get_available_providers()))'
# onnxruntime under qemu prints cpuinfo warnings on stderr (it cannot read the emulated CPU); kept
# in $WORK/*.err and shown only on failure.
line="$(inside /opt/edge-venv/bin/python -c "$IMPORTS" 2>"$WORK/arm-import.err")" \
    || { cat "$WORK/arm-import.err" >&2; die "imports failed in the arm64 venv"; }
say "arm64: $line"
line="$("$HOSTDIR/venv/bin/python" -c "$IMPORTS" 2>"$WORK/x86-import.err")" \
    || { cat "$WORK/x86-import.err" >&2; die "imports failed in the x86-64 venv"; }
say "x86:   $line"

# No model ships yet (render uses tier 0), so onnxruntime gets a one-node model (y = x * x) written
# as raw protobuf here, to show its arm64 CPU kernels actually run.
cat > "$DIR/tmp/edge-onnx-probe.py" <<'EOF'
import numpy as np, onnxruntime as ort
def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
def field(num, val):
    if isinstance(val, int):
        return varint(num << 3) + varint(val)
    val = val.encode() if isinstance(val, str) else val
    return varint(num << 3 | 2) + varint(len(val)) + val
def value_info(name):  # float tensor of shape [8]
    return field(1, name) + field(2, field(1, field(1, 1) + field(2, field(1, field(1, 8)))))
node = field(1, "x") + field(1, "x") + field(2, "y") + field(4, "Mul")
graph = field(1, node) + field(2, "probe") + field(11, value_info("x")) + field(12, value_info("y"))
model = field(1, 8) + field(7, graph) + field(8, field(1, "") + field(2, 13))
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
x = np.linspace(-1, 1, 8, dtype=np.float32)
y = session.run(None, {"x": x})[0]
assert np.array_equal(y, x * x), y
print("onnxruntime InferenceSession ran a Mul model, result exact")
EOF
line="$(inside /opt/edge-venv/bin/python /tmp/edge-onnx-probe.py 2>"$WORK/arm-onnx.err")" \
    || { cat "$WORK/arm-onnx.err" >&2; die "onnxruntime could not run a model on arm64"; }
say "arm64: $line"
inside /opt/edge-venv/bin/python -m pip list --disable-pip-version-check --format=freeze > "$DIR.freeze" 2>/dev/null || true

# --- 5. render on both and compare --------------------------------------------------------------
# Whole-process CPU comes from /usr/bin/time on the host: under binfmt the qemu process is a
# child of chroot, so its user+sys time is counted. The render loop's own CPU-s is the figure
# `edge-music render` prints (time.process_time of the qemu process, i.e. emulated cost).
timed() {  # $1 = label, rest = command; writes $WORK/<label>.time and $WORK/<label>.err
    label="$1"; shift
    /usr/bin/time -f '%U %S %e' -o "$WORK/$label.time" "$@" 2>"$WORK/$label.err" \
        || { cat "$WORK/$label.err" >&2; die "$label render failed"; }
}
say "rendering $SECONDS_ s (focus, seed 1) on arm64 under qemu"
# shellcheck disable=SC2086
timed arm chroot "$DIR" /usr/bin/env -i QEMU_CPU="$QEMU_CPU" HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
    /opt/edge-venv/bin/edge-music $RENDER_ARGS --out /tmp/arm.wav
cp "$DIR/tmp/arm.wav" "$WORK/arm.wav"
say "rendering $SECONDS_ s (focus, seed 1) on x86-64"
# shellcheck disable=SC2086
timed x86 "$HOSTDIR/venv/bin/edge-music" $RENDER_ARGS --out "$WORK/x86.wav"

"$HOSTDIR/venv/bin/python" - "$WORK" "$SECONDS_" "$RMS_DB" <<'EOF' || die "the arm64 render does not match the x86-64 one"
import math, re, sys, wave
import numpy as np

work, seconds, tol_db = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])

def load(name):
    with wave.open(f"{work}/{name}.wav") as w:
        rate, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    dtype = {2: "<i2", 4: "<i4"}[width]
    x = np.frombuffer(raw, dtype=dtype).astype(np.float64) / float(2 ** (8 * width - 1))
    return rate, ch, width, n, x.reshape(-1, ch)

def cpu(name):
    err = open(f"{work}/{name}.err").read()
    m = re.search(r"in ([0-9.]+) CPU-s", err)
    user, sys_, wall = (float(v) for v in open(f"{work}/{name}.time").read().split()[:3])
    return (float(m.group(1)) if m else float("nan")), user + sys_, wall

rows, failures = {}, []
for name in ("x86", "arm"):
    rate, ch, width, n, x = load(name)
    rms = math.sqrt(float(np.mean(x * x)))
    loop, proc, wall = cpu(name)
    rows[name] = dict(rate=rate, ch=ch, width=width, n=n, x=x, rms=rms, loop=loop, proc=proc, wall=wall)
    print(f"check-arm64: {name:>3}: {n / rate:.3f} s, {rate} Hz, {ch} ch, {8 * width}-bit, "
          f"RMS {rms:.5f} ({20 * math.log10(rms):.2f} dBFS), peak {np.abs(x).max():.4f}; "
          f"render loop {loop:.2f} CPU-s, whole process {proc:.2f} CPU-s, wall {wall:.2f} s")

a, b = rows["arm"], rows["x86"]
for key in ("rate", "ch", "width", "n"):
    if a[key] != b[key]:
        failures.append(f"{key} differs: arm64 {a[key]} vs x86-64 {b[key]}")
if abs(b["n"] / b["rate"] - seconds) > 1.0 / b["rate"]:
    failures.append(f"x86-64 duration {b['n'] / b['rate']:.4f} s is not {seconds} s")
if b["rms"] <= 0 or a["rms"] <= 0:
    failures.append("a render is silent")
else:
    diff_db = abs(20 * math.log10(a["rms"] / b["rms"]))
    print(f"check-arm64: RMS difference {diff_db:.4f} dB (allowed {tol_db} dB)")
    if diff_db > tol_db:
        failures.append(f"RMS differs by {diff_db:.3f} dB")
if a["n"] == b["n"]:
    d = np.abs(a["x"] - b["x"])
    same = int(np.count_nonzero(d == 0))
    print(f"check-arm64: samples identical: {same}/{d.size}; max |difference| {d.max() * 32768:.0f} LSB (16-bit)")
print(f"check-arm64: CPU time arm64/x86-64: render loop {a['loop'] / b['loop']:.1f}x, "
      f"whole process {a['proc'] / b['proc']:.1f}x")
for f in failures:
    print(f"check-arm64: FAIL: {f}", file=sys.stderr)
sys.exit(1 if failures else 0)
EOF

# --- 6. the tests on arm64 ----------------------------------------------------------------------
if [ -n "$TESTS" ]; then
    say "pytest $TESTS on arm64 under qemu (log: $DIR.pytest.log)"
    started="$(date +%s)"
    # The tests run from the exported tree (tests/ and models/ included), as on a clone of this commit.
    if inside sh -c "cd /opt/edge-src && exec /opt/edge-venv/bin/python -m pytest -p no:cacheprovider -rfEs $TESTS" \
            >"$DIR.pytest.log" 2>&1; then
        status=0
    else
        status=$?
    fi
    say "pytest on arm64: $(grep -E '(passed|failed|error)' "$DIR.pytest.log" | tail -n 1) ($(( $(date +%s) - started )) s wall)"
    if [ "$status" != 0 ]; then
        grep -E '^(FAILED|ERROR) ' "$DIR.pytest.log" >&2 || tail -n 40 "$DIR.pytest.log" >&2
        die "tests failed on arm64 (exit $status), see $DIR.pytest.log"
    fi
fi
say "OK: commit ${COMMIT%"${COMMIT#????????????}"} installs and renders on arm64 (Debian $SUITE under qemu-user)"
