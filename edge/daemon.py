"""``edge-music run``: wires the engine, the player and the outside world.

Threads: the player's producer (engine, one bar ahead) and sink (ALSA);
paho's network thread; this main thread, which runs a ~1 Hz control loop for
the governor, telemetry and status. Everything that crosses threads goes
through ``LiveState`` (a lock) or the player's own small locked state.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import signal
import threading
import time
from typing import Any

import psutil

from edge import malloc
from edge.accounts import Accounts
from edge.config import Config, ConfigError, load
from edge.context.context import NOTE_NAMES, Context, ContextError
from edge.context.control import Command, LiveState
from edge.context.from_config import context_from
from edge.credentials.manifest import new_session_id
from edge.engine import Engine
from edge.generator.registry import TierRegistry
from edge.logs import setup_logging
from edge.music.events import Bar
from edge.music.style import StyleError, StyleLibrary
from edge.packs.models import split_source
from edge.render import sampled
from edge.session.recorder import SessionRecorder
from edge.state import state_path
from edge.thermal.governor import Governor, default_operating_points
from edge.thermal.power import measured_ladder, profile_for

log = logging.getLogger("edge.daemon")

CONTROL_PERIOD_S = 1.0
TRIM_EVERY_TICKS = 10
"""Control ticks between returning freed heap pages to the kernel (edge.malloc)."""


class Daemon:
    """One running speaker."""

    def __init__(self, config: Config, config_path: str | None) -> None:
        self.config = config
        self.config_path = config_path
        self.stop_event = threading.Event()
        self._reload = threading.Event()
        self.styles = load_styles(config)
        self.styles.get(config.music.style)
        prepare_soundfonts(self.styles)
        seed = config.music.seed
        if seed < 0:
            seed = random.SystemRandom().randrange(2**32)
        self.seed = seed
        context = context_from(config)
        self.state = LiveState(
            context, self.styles.names, volume=config.music.volume, seed=seed, tier=config.generator.tier
        )
        self.registry = TierRegistry(config.generator.models_dir or None)
        tiers = usable_tiers(self.registry, config.generator.tier)
        # The session log records what the engine consumes at each bar (edge/session).
        self.session_log = SessionRecorder(config.session) if config.session.enabled else None
        source = self._engine_context
        # Start on the smallest neural tier (quick to load); the governor climbs from there.
        self.engine = Engine(
            self.styles,
            source if self.session_log is None else self.session_log.watch(source),
            seed,
            sample_rate=config.audio.rate,
            block_frames=config.audio.period_frames,
            on_bar=self._on_bar,
            registry=self.registry,
            tier=tiers[-2] if len(tiers) > 1 else "0",
            sampling=(config.generator.temperature, config.generator.top_p),
            loudness_lufs=config.audio.loudness_lufs,
        )
        self._seed_generation = 0
        # Reimagine live: the library's tracks, and the stage the player renders from.
        from edge.library.live import LiveTracks

        self.tracks = LiveTracks(
            config.library, self.state, lambda: self.styles, self.engine, self.registry,
            rate=config.audio.rate, block=config.audio.period_frames,
            sampling=(config.generator.temperature, config.generator.top_p),
            loudness_lufs=config.audio.loudness_lufs,
        )  # fmt: skip
        self.tracks.rescan()
        self.session_id = new_session_id()
        self._process = psutil.Process()
        self._tier_setting = config.generator.tier
        # The quality ladder measured by scripts/eval_models.py for these models (None: L > M > S > 0).
        self._ladder = measured_ladder(self.registry.folder / "quality.json")
        points = default_operating_points(
            tiers, board=profile_for(config.thermal), ladder=self._ladder_for(config.generator.tier)
        )
        self.governor = Governor(config.thermal, points)
        self._cpu_mark = self._process.cpu_times()
        self._ticks = 0
        self._frames_mark = 0
        # Who each bar credits: the ledger, the state's credit line, the recording's credentials.
        self.accounts = Accounts(config, self.state, self.styles, self.registry, seed, self.session_id)
        self.player: Any = None
        self.mqtt: Any = None
        self.gpio: Any = None
        self.notifier: Any = None

    def _engine_context(self) -> Context:
        """The listener's context, read by the producer at each bar; a pack's style is taken only once
        its artist model is loaded (in a thread of its own) or found broken, so the style changes at
        a later bar line instead of the producer waiting on a load. What the engine consumed is what
        the session log records, so a replay changes style at the same bar."""
        context = self.state.context
        engine = getattr(self, "engine", None)  # None while the engine reads its first context
        if engine is None or context.style == engine.style.name:
            return context
        pack = self.styles.packs.get(context.style)
        if pack is None or self.registry.packs.request(pack):
            return context
        return dataclasses.replace(context, style=engine.style.name)

    # -- telemetry -------------------------------------------------------------

    def _on_bar(self, bar: Bar) -> None:
        """Called in the producer thread each time a bar is scheduled."""
        plan = bar.plan
        if self.session_log is not None:
            self.session_log.bar(self.engine.bars_played - 1, self.engine.tier, self.engine.synth.level)
        snapshot = self.state.snapshot()
        if snapshot.seed_generation != self._seed_generation:
            self._seed_generation = snapshot.seed_generation
            self.engine.reseed(snapshot.seed)
            if self.session_log is not None:
                self.session_log.reseed(snapshot.seed)
            log.info("reseeded: seed %d from the next bar", snapshot.seed)
        self.state.update_telemetry(
            tempo=round(plan.tempo, 1),
            tempo_target=round(self.engine.conductor.target_tempo(snapshot.context, self.engine.style), 1),
            key=NOTE_NAMES[plan.key],
            mode=plan.mode,
            section=plan.section,
            energy_now=float(plan.energy),
            bar=plan.index,
            tier=split_source(bar.source)[0],
            model=self._model_name(bar.source),
            style_now=plan.style,
        )
        self.accounts.bar(plan.style, bar.source)

    def _model_name(self, source: str) -> str:
        """What the state says wrote the bar: procedural, the shipped tier, or a pack's model."""
        if source == "tier0":
            return "procedural"
        entry = self.registry.packs.by_source(source)
        return source if entry is None else f"{entry.name} (pack {entry.pack})"

    def _on_state(self, changed: set[str]) -> None:
        """Transport and volume changes go straight to the player (its fades make them smooth)."""
        player = self.player
        if player is None:
            return
        snapshot = self.state.snapshot()
        if "playing" in changed:
            (player.resume if snapshot.playing else player.pause)()
            log.info("%s", "playing" if snapshot.playing else "paused")
        if "volume" in changed:
            player.set_volume(snapshot.volume / 100)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Open the sink, start playing and connect to the outside world."""
        from edge.audio import Player, open_sink
        from edge.hw.sdnotify import Notifier

        audio = self.config.audio
        log.info(
            "edge-music starting: style %s, seed %d, tiers available: %s",
            self.state.context.style,
            self.seed,
            ", ".join(self.registry.available),
        )
        self._prepare_mqtt()  # validates the MQTT settings before any sound is made
        self.notifier = Notifier()
        sink = open_sink(audio, realtime=True)
        self.player = Player(
            sink,
            self.tracks.stage.render_block,
            period_frames=audio.period_frames,
            rate=audio.rate,
            buffer_seconds=audio.buffer_seconds,
            fade_ms=audio.fade_ms,
            volume=self.config.music.volume / 100,
        )
        self.player.on_block = self._on_block
        self._start_session()
        self.state.subscribe(self._on_state)
        self.accounts.start_ledger()
        self.tracks.start()
        self.player.start()
        log.info("playing to %s", sink.description)
        if self.mqtt is not None:
            self.mqtt.start()
        self._start_gpio()

    def _start_session(self) -> None:
        session = self.session_log
        if session is None:
            return
        path = session.start(self.engine, self.registry, self.styles, self.config.audio,
                             self.config.music.volume / 100, self.session_id)  # fmt: skip
        if path is None:
            self.session_log = None
            return
        log.info("session log %s", path)
        session.blocks_written = lambda: self.player.stats.blocks_written
        self.player.on_gain = session.gain
        self.tracks.session_log = session  # which track played from which frame, for the replay
        engine = self.engine
        self.state.on_command(lambda command, changed: session.command(command, changed, engine.bars_played))

    def _on_block(self, *_: object) -> None:
        # Called from the sink thread after each write: a hung producer starves the sink,
        # the pings stop, and systemd's watchdog restarts us.
        self.notifier.watchdog()

    def _prepare_mqtt(self) -> None:
        if not self.config.mqtt.enabled:
            return
        from edge.mqtt.client import MqttLink

        self.mqtt = MqttLink(self.config.mqtt, self.state, self.styles.names)
        self.mqtt.set_tracks(self.tracks.library.ids)
        self.accounts.publish = self.mqtt.publish_credits  # today's credits after each ledger batch
        self.tracks.on_tracks = self.mqtt.set_tracks
        self.tracks.on_error = lambda reason: self.mqtt.report_error(self.mqtt.topics.set, reason)

    def _credit(self) -> None:
        """Credit the music that reached the sink since the last call (none while paused)."""
        stats = self.player.stats
        self.accounts.credit(stats.frames_written - stats.silent_blocks * self.config.audio.period_frames)

    def _start_gpio(self) -> None:
        if not self.config.gpio.enabled:
            return
        from edge.hw.gpio import GpioPanel

        panel = GpioPanel(self.config.gpio, self.state)
        if panel.start():
            self.gpio = panel

    def run(self) -> int:
        """Play until SIGINT/SIGTERM; SIGHUP reloads the config."""
        self.start()
        first = self.player.wait_first_block(timeout=10.0)
        if first is not None:
            self.notifier.ready()
            since_start = time.time() - self._process.create_time() - (time.monotonic() - first)
            log.info("first audio %.3f s after process start", since_start)
        # Start the cost accounting now: imports and start-up are not what playing costs.
        self._cpu_mark = self._process.cpu_times()
        self._frames_mark = self.player.stats.frames_written
        while not self.stop_event.is_set():
            self.stop_event.wait(CONTROL_PERIOD_S)
            if self._reload.is_set():
                self._reload.clear()
                self.reload()
            self._control_tick()
        return self.shutdown()

    def _control_tick(self) -> None:
        """Telemetry and status, about once a second."""
        self._govern()
        self._credit()
        self._ticks += 1
        self.tracks.tick(self.player.stats.buffered_blocks * self.config.audio.period_frames)
        if self._ticks % TRIM_EVERY_TICKS == 0:
            malloc.give_back()  # here, not in the audio thread: it holds the allocator's lock briefly
        snapshot = self.state.snapshot()
        self.state.update_telemetry(
            underruns=int(self.player.stats.underruns),
            uptime_s=int(time.monotonic() - self.state.started),
            seed=snapshot.seed,
        )
        if self.session_log is not None:
            self.session_log.telemetry(snapshot)
        t = snapshot.telemetry
        self.notifier.status(
            f"{'playing' if snapshot.playing else 'paused'} {snapshot.context.style}"
            f", tier {t.get('tier', '0')}, {t.get('tempo', '?')} BPM"
            + (f", {t['temperature_c']:.0f} °C" if isinstance(t.get("temperature_c"), float) else "")
        )

    def _govern(self) -> None:
        """Feed the governor our cost, take its decision; the synth level changes at a bar line."""
        cpu = self._process.cpu_times()
        frames = self.player.stats.frames_written
        spent = (cpu.user - self._cpu_mark.user) + (cpu.system - self._cpu_mark.system)
        audio = (frames - self._frames_mark) / self.config.audio.rate
        self._cpu_mark, self._frames_mark = cpu, frames
        setting = self.state.snapshot().tier
        if setting != self._tier_setting:  # the listener pinned (or freed) the tier
            self._tier_setting = setting
            tiers = usable_tiers(self.registry, setting)
            board = profile_for(self.config.thermal)
            self.governor.set_points(
                default_operating_points(tiers, board=board, ladder=self._ladder_for(setting))
            )
            log.info("tier %s requested: the governor chooses among %s", setting, ", ".join(tiers))
        self.governor.observe(spent, audio)
        decision = self.governor.step()
        if self.session_log is not None:
            self.session_log.governor(decision, self.engine.bars_played)
        self.engine.pending_synth_level = decision.point.synth_level
        tier = decision.point.tier
        if tier != self.engine.tier:
            # Load here, off the audio path: the new tier and the one under it (so a later
            # step down is instant), and the playing pack's own model; the engine switches at
            # its next bar line.
            self.registry.session(tier)
            self.registry.session(self.registry.below(tier))
            if tier != "0":
                self.registry.packs.prepare(self.engine.style)
            self.engine.pending_tier = tier
        telemetry = decision.telemetry()
        telemetry.pop("tier", None)  # the tier that played comes from the bars themselves
        self.state.update_telemetry(**telemetry)
        if self.gpio is not None:
            self.gpio.apply(decision, mqtt_connected=None if self.mqtt is None else self.mqtt.connected)

    def _ladder_for(self, setting: str) -> dict[str, float] | None:
        """The measured quality ladder decides under ``auto``; a tier the listener pins plays as
        asked (None: the size order, so the governor steps down from it only for heat)."""
        return self._ladder if setting == "auto" else None

    def reload(self) -> None:
        """Re-read the config; an invalid one is logged and the old one kept."""
        self.notifier.reloading()
        try:
            config = load(self.config_path)
            styles = load_styles(config)
            styles.get(config.music.style)
            context_from(config)
        except (ConfigError, StyleError, ContextError) as exc:
            log.error("reload refused, keeping the running config: %s", exc)
        else:
            self._apply_styles(styles, config.music.style)
            self._apply_reload(config)
        self.tracks.rescan()
        self.notifier.ready()

    def _apply_styles(self, styles: StyleLibrary, fallback: str) -> None:
        """Packs installed or removed since the last load: the engine, LiveState and Home Assistant
        see the new list (the engine first: it keeps the playing style until the context moves)."""
        old = self.styles
        prepare_soundfonts(styles)  # before the engine can play a new pack: its fonts trimmed
        playing = styles.packs.get(self.engine.style.name)
        if playing is not None:  # a replaced pack's new model is loaded here, not by the producer
            self.registry.packs.prepare(playing)
        self.styles = self.engine.styles = styles
        self.registry.packs.keep(styles.names)  # a removed pack's model goes
        self.accounts.restyle(styles)  # an installed pack credits its author
        if self.session_log is not None:
            self.session_log.styles(styles, self.engine.bars_played)
        self.state.set_styles(styles.names, fallback)
        if self.mqtt is not None:
            self.mqtt.set_styles(styles.names)
        if styles.names != old.names:
            log.info("style packs now: %s", ", ".join(styles.names))

    def _apply_reload(self, config: Config) -> None:
        """Apply what can change live; name the sections that need a restart."""
        old, self.config = self.config, config
        self.accounts.config = config
        logging.getLogger().setLevel(config.log.level)
        music = config.music
        if music != old.music:
            for name, value in (
                ("style", music.style),
                ("mood", music.mood),
                ("activity", music.activity),
                ("energy", music.energy),
                ("volume", music.volume),
                ("tempo", music.tempo or "auto"),
                ("key", music.key),
            ):
                if getattr(old.music, name) != getattr(music, name):
                    self.state.apply(Command(name, value, source="config"))
        restart = [
            name
            for name in ("audio", "mqtt", "gpio", "thermal", "generator", "ledger", "session", "library")
            if getattr(old, name) != getattr(config, name)
        ]
        log.info("config reloaded from %s", self.config_path or "defaults")
        if restart:
            log.warning("changes in [%s] take effect after a restart", "], [".join(restart))

    def request_stop(self, *_: object) -> None:
        """Signal handler: fade out and leave."""
        self.stop_event.set()

    def request_reload(self, *_: object) -> None:
        """Signal handler for SIGHUP."""
        self._reload.set()

    def shutdown(self) -> int:
        """Fade out, say goodbye on MQTT, release everything; returns the exit code."""
        log.info("stopping")
        if self.notifier is not None:
            self.notifier.stopping()
        if self.player is not None:
            self.player.stop(fade=True)
            self._credit()
        self.tracks.stop()  # the last seconds, fade included
        if self.session_log is not None:
            blocks = self.player.stats.blocks_written if self.player is not None else 0
            self.session_log.finish(self.engine.bars_played, blocks)
        if self.player is not None:
            self.accounts.sign_recording(self.player.sink)
        self.accounts.stop_ledger()  # the last batch, published while MQTT is still up
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.gpio is not None:
            self.gpio.close()
        log.info("stopped")
        return 0


def run_daemon(config: Config, config_path: str | None) -> int:
    """Entry point of ``edge-music run``."""
    setup_logging(config.log.level)
    malloc.tune()  # before any thread exists: arenas are per thread
    daemon = Daemon(config, config_path)
    signal.signal(signal.SIGINT, daemon.request_stop)
    signal.signal(signal.SIGTERM, daemon.request_stop)
    signal.signal(signal.SIGHUP, daemon.request_reload)
    if os.environ.get("EDGE_MUSIC_STOP_AFTER"):  # lets tests and benchmarks bound a run
        timer = threading.Timer(float(os.environ["EDGE_MUSIC_STOP_AFTER"]), daemon.request_stop)
        timer.daemon = True
        timer.start()
    return daemon.run()


def prepare_soundfonts(styles: StyleLibrary) -> None:
    """Each pack's SoundFonts trimmed to the presets it plays (written once, in the state directory):
    FluidSynth then holds a few preset headers, not a whole General MIDI font's (edge.render.fontcache)."""
    sounds = [[p.sampled for p in pack.instruments.values() if p.sampled] for pack in styles.packs.values()]
    sampled.prepare_soundfonts(sounds)


def load_styles(config: Config) -> StyleLibrary:
    """The built-in packs and those installed in ``[packs] dir`` (a broken one is left out, logged)."""
    return StyleLibrary(installed=state_path("packs", config.packs.dir))


def usable_tiers(registry: TierRegistry, setting: str) -> tuple[str, ...]:
    """Tiers the governor may choose, best first: those installed, up to ``generator.tier``."""
    ceiling = registry.best_at_most("L" if setting == "auto" else setting)
    return registry.available[registry.available.index(ceiling) :]
