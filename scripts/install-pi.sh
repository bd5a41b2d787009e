#!/bin/sh
# Install edge-music as a hardened systemd service on Raspberry Pi OS (bookworm, arm64).
#
#   sudo scripts/install-pi.sh [--with-mosquitto] [--dry-run]
#   sudo scripts/install-pi.sh --uninstall [--dry-run]
#
# Installs the checkout this script lives in. Safe to run again: a re-run upgrades
# the code, refreshes the unit, restarts the service and keeps
# /etc/edge-music/config.toml (the current example is written next to it).
#
#   --with-mosquitto  also install a local MQTT broker
#   --dry-run         print every step and change nothing (no root needed)
#   --uninstall       stop and disable the service, remove the unit and /opt/edge-music;
#                     /etc/edge-music (your config) is kept
#   DESTDIR=dir       stage files under dir instead of /; steps that change the running
#                     system (apt-get, useradd, usermod, chgrp, systemctl) are printed, not run
#   PYTHON=python3    interpreter the venv is made from
set -eu

SERVICE=edge-music.service
SERVICE_USER=edge-music
PREFIX=/opt/edge-music
VENV=$PREFIX/venv
CONF_DIR=/etc/edge-music
CONF=$CONF_DIR/config.toml
UNIT=/etc/systemd/system/$SERVICE
STATE_DIR=/var/lib/edge-music
APT_PACKAGES="libasound2-dev python3-venv python3-dev gcc"
# audio: ALSA devices; video: /dev/vchiq (vcgencmd); gpio: /dev/gpiochip* on Raspberry Pi OS.
SERVICE_GROUPS="audio video gpio"

DESTDIR=${DESTDIR:-}
PYTHON=${PYTHON:-python3}
SRC=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)

DRY_RUN=0
UNINSTALL=0
WITH_MOSQUITTO=0

say() { printf 'edge-music: %s\n' "$*"; }
die() { printf 'edge-music: error: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,18s/^# \{0,1\}//p' "$0"; }

# Print a command the way it could be pasted back into a shell.
show() {
    line="+"
    for word in "$@"; do
        case $word in
            ''|*[!A-Za-z0-9_./:=@%+,-]*) word="'$word'" ;;
        esac
        line="$line $word"
    done
    printf '%s\n' "$line"
}

# A step on files (under $DESTDIR): printed, then run unless --dry-run.
run() {
    show "$@"
    [ "$DRY_RUN" = 1 ] || "$@"
}

# A step that changes the running system: also skipped when staging into $DESTDIR.
sys() {
    if [ -n "$DESTDIR" ] && [ "$DRY_RUN" = 0 ]; then
        printf '%s    # not run: DESTDIR is set\n' "$(show "$@")"
        return 0
    fi
    run "$@"
}

# The path a system path is written to.
dest() { printf '%s%s' "$DESTDIR" "$1"; }

install_packages() {
    wanted=$APT_PACKAGES
    [ "$WITH_MOSQUITTO" = 0 ] || wanted="$wanted mosquitto"
    missing=""
    for pkg in $wanted; do
        # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not a shell variable
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing="$missing $pkg"
        fi
    done
    if [ -z "$missing" ]; then
        say "apt packages already installed: $wanted"
        return 0
    fi
    # Word splitting of $missing is intended: one argument per package.
    # shellcheck disable=SC2086
    if ! sys env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; then
        # Stale package lists on a fresh image: refresh once and retry.
        sys apt-get update
        # shellcheck disable=SC2086
        sys env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
    fi
}

create_user() {
    if getent passwd "$SERVICE_USER" >/dev/null 2>&1; then
        say "user $SERVICE_USER exists"
    else
        sys useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "edge-music daemon" "$SERVICE_USER"
    fi
    # Membership lives in /etc/group, so systemd applies only the groups this board has.
    for group in $SERVICE_GROUPS; do
        if ! getent group "$group" >/dev/null 2>&1; then
            say "no '$group' group on this system; skipping it"
        elif id -nG "$SERVICE_USER" 2>/dev/null | tr ' ' '\n' | grep -qx "$group"; then
            say "user $SERVICE_USER is already in group $group"
        else
            sys usermod -a -G "$group" "$SERVICE_USER"
        fi
    done
}

install_venv() {
    venv=$(dest "$VENV")
    run install -d -m 0755 "$(dest "$PREFIX")"
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c '' 2>/dev/null; then
        say "reusing $VENV"
    else
        run "$PYTHON" -m venv --clear "$venv"
    fi
    # The pi extra brings lgpio (the GPIO backend that also works on the Pi 5).
    run "$venv/bin/python" -m pip install --disable-pip-version-check --upgrade "${SRC}[pi]"
}

install_config() {
    conf_dir=$(dest "$CONF_DIR")
    conf=$(dest "$CONF")
    edge_music=$(dest "$VENV")/bin/edge-music
    run install -d -m 0750 "$conf_dir"
    sys chgrp "$SERVICE_USER" "$conf_dir"
    # Always refresh the example: after an upgrade it shows the new settings.
    printf '%s > %s\n' "$(show "$edge_music" config --example)" "$conf.example"
    if [ "$DRY_RUN" = 0 ]; then
        tmp=$(mktemp "$conf_dir/.config.XXXXXX")
        if ! "$edge_music" config --example >"$tmp"; then
            rm -f "$tmp"
            die "'edge-music config --example' failed; nothing written to $CONF_DIR"
        fi
        # A service waits for its sound card to appear rather than fill the SD card with WAVs.
        sed -i 's/^fallback_to_wav = true$/fallback_to_wav = false/' "$tmp"
        chmod 0640 "$tmp"
        mv -f "$tmp" "$conf.example"
    fi
    if [ -e "$conf" ]; then
        say "keeping the existing $CONF (compare with $CONF.example after an upgrade)"
    else
        # 0640 root:edge-music: it may hold the MQTT password.
        run install -m 0640 "$conf.example" "$conf"
        sys chgrp "$SERVICE_USER" "$conf"
    fi
    sys chgrp "$SERVICE_USER" "$conf.example"
}

init_credentials() {
    # The device's own CA and signing key, made now as the service user, so the first file the
    # daemon writes is signed (they would otherwise be made on first use). Keys stay mode 0600.
    run install -d -m 0750 "$(dest "$STATE_DIR")"
    sys chown "$SERVICE_USER:$SERVICE_USER" "$(dest "$STATE_DIR")"
    sys runuser -u "$SERVICE_USER" -- env STATE_DIRECTORY="$STATE_DIR" \
        "$VENV/bin/edge-music" --config "$CONF" credentials --init \
        || say "could not create the signing keys now; the daemon makes them on first use"
}

install_unit() {
    run install -d -m 0755 "$(dirname "$(dest "$UNIT")")"
    run install -m 0644 "$SRC/systemd/$SERVICE" "$(dest "$UNIT")"
    sys systemctl daemon-reload
    # A unit that hit its start limit refuses to start until this.
    sys systemctl reset-failed "$SERVICE" 2>/dev/null || true
    if systemctl is-active --quiet "$SERVICE" 2>/dev/null; then
        sys systemctl enable "$SERVICE"
        # enable --now would leave the old code running.
        sys systemctl restart "$SERVICE" || die "$SERVICE did not restart; see: journalctl -u edge-music -b"
    else
        # Type=notify: this waits until the first audio block is out (or fails).
        sys systemctl enable --now "$SERVICE" || die "$SERVICE did not start; see: journalctl -u edge-music -b"
    fi
}

do_install() {
    case $(uname -m) in
        aarch64) ;;
        *) say "warning: written for 64-bit Raspberry Pi OS (aarch64), this is $(uname -m)" ;;
    esac
    if [ ! -f "$SRC/pyproject.toml" ] || [ ! -f "$SRC/systemd/$SERVICE" ]; then
        die "$SRC is not an edge-music checkout"
    fi
    install_packages
    create_user
    install_venv
    install_config
    init_credentials
    install_unit
    if [ "$DRY_RUN" = 1 ]; then
        say "dry run done: nothing was changed"
        return 0
    fi
    say "installed. Status: systemctl status edge-music   Logs: journalctl -u edge-music -f"
    say "settings: $CONF (then: sudo systemctl reload edge-music)"
}

do_uninstall() {
    prefix=$(dest "$PREFIX")
    case $prefix in
        */opt/edge-music) ;;
        *) die "refusing to remove $prefix" ;;
    esac
    sys systemctl disable --now "$SERVICE" 2>/dev/null || true
    run rm -f "$(dest "$UNIT")"
    sys systemctl daemon-reload
    sys systemctl reset-failed "$SERVICE" 2>/dev/null || true
    run rm -rf "$prefix"
    if [ "$DRY_RUN" = 1 ]; then
        say "dry run: nothing was changed"
    else
        say "removed the service and $PREFIX"
    fi
    say "kept $CONF_DIR (your configuration); delete it yourself if you no longer want it"
    say "also kept the $SERVICE_USER user and its data; to remove them too:"
    say "  sudo userdel $SERVICE_USER && sudo rm -rf $STATE_DIR /var/log/edge-music /var/cache/edge-music"
}

for arg in "$@"; do
    case $arg in
        --dry-run) DRY_RUN=1 ;;
        --uninstall) UNINSTALL=1 ;;
        --with-mosquitto) WITH_MOSQUITTO=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

if [ "$DRY_RUN" = 1 ]; then
    say "dry run: printing the steps, changing nothing"
elif [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then
    die "run as root: sudo $0 $*"
fi

if [ "$UNINSTALL" = 1 ]; then
    do_uninstall
else
    do_install
fi
