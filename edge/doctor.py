"""``edge-music doctor``: is this machine ready to play? One line per check."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Callable

from edge.config import Config
from edge.exits import EXIT_FAILED, EXIT_OK
from edge.outputs import write_stdout

OK, WARN, FAIL = "OK", "WARN", "FAIL"
Check = tuple[str, str, str]  # (what, OK|WARN|FAIL, one-line hint)


def check_styles(config: Config) -> list[Check]:
    """Every style pack loads and the configured one exists."""
    from edge.music.style import StyleError, StyleLibrary
    from edge.state import state_path

    try:
        library = StyleLibrary(installed=state_path("packs", config.packs.dir))
        library.get(config.music.style)
    except StyleError as exc:
        return [("style packs", FAIL, str(exc))]
    checks = [("style packs", OK, f"{len(library.names)} packs: {', '.join(library.names)}")]
    for name, why in library.skipped.items():
        checks.append((f"installed pack {name}", WARN, f"left out: {why}"))
    return checks


def check_alsa(config: Config) -> list[Check]:
    """The configured playback device opens."""
    try:
        import alsaaudio
    except ImportError as exc:
        return [("ALSA", FAIL, f"pyalsaaudio is not installed ({exc}); run make run to install it")]
    from edge.audio import probe_alsa

    if config.audio.sink != "alsa":
        return [("ALSA", OK, f"not used: audio.sink = {config.audio.sink!r}")]
    problem = probe_alsa(config.audio.device)
    if problem is None:
        return [("ALSA playback", OK, f"device {config.audio.device!r} opens")]
    cards = alsaaudio.cards()
    hint = "no sound cards found" if not cards else f"cards: {', '.join(cards)}"
    fallback = "; run falls back to a WAV file" if config.audio.fallback_to_wav else ""
    return [("ALSA playback", FAIL, f"device {config.audio.device!r}: {problem} ({hint}){fallback}")]


def check_thermal(config: Config) -> list[Check]:
    """Temperature, throttle and power sensors (all optional)."""
    try:
        from edge.thermal.sensors import sensor_report
    except ImportError:
        return [("thermal sensors", WARN, "thermal support not installed in this build")]
    return list(sensor_report(config.thermal))


def check_broker(config: Config) -> list[Check]:
    """The MQTT broker answers on its port."""
    mqtt = config.mqtt
    if not mqtt.enabled:
        return [("MQTT broker", OK, "disabled in the config")]
    try:
        with socket.create_connection((mqtt.host, mqtt.port), timeout=1.5):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return [
            (
                "MQTT broker",
                WARN,
                f"{mqtt.host}:{mqtt.port} unreachable ({reason}); the daemon plays on and keeps retrying",
            )
        ]
    return [("MQTT broker", OK, f"{mqtt.host}:{mqtt.port} reachable")]


def check_models(config: Config) -> list[Check]:
    """Neural model files match their manifest (the same checks the daemon makes)."""
    import logging

    from edge.generator.registry import TierRegistry

    logging.getLogger("edge.generator.registry").setLevel(logging.CRITICAL)  # reported below instead
    registry = TierRegistry(config.generator.models_dir or None)
    manifest = registry.folder / "manifest.json"
    if not manifest.exists():
        return [("models", WARN, f"no {manifest}; only the procedural tier 0 is available")]
    checks: list[Check] = [(f"model {tier}", FAIL, reason) for tier, reason in registry.disabled.items()]
    checks += [(f"model {tier}", OK, f"{e.path.name} verified") for tier, e in registry.entries.items()]
    return checks or [("models", WARN, f"{manifest} lists no usable models; tier 0 only")]


def check_gpio(config: Config) -> list[Check]:
    """A GPIO pin factory loads."""
    if not config.gpio.enabled:
        return [("GPIO", OK, "disabled in the config")]
    try:
        from gpiozero import Device
    except ImportError as exc:
        return [("GPIO", FAIL, f"gpiozero is not installed ({exc})")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            factory = Device._default_pin_factory()
        except Exception as exc:  # gpiozero raises BadPinFactory, or others from the backends
            return [("GPIO", WARN, f"no pin factory ({type(exc).__name__}); buttons, LED and fan are off")]
    name = type(factory).__name__
    factory.close()
    return [("GPIO", OK, f"pin factory {name}")]


def check_soundfonts(config: Config) -> list[Check]:
    """SoundFonts found, whether FluidSynth plays them, and what each pack's sampled tracks play."""
    from edge.music.style import StyleError, StyleLibrary
    from edge.render.sampled import what_plays
    from edge.render.soundfonts import (
        fluidsynth_version,
        installed_soundfonts,
        load_fluidsynth,
        soundfont_dirs,
    )

    fonts = installed_soundfonts()
    module, why = load_fluidsynth()
    if not fonts:
        where = ", ".join(str(d) for d in soundfont_dirs())
        checks = [("soundfonts", WARN, f"none found in {where}; sampled tracks play their synth patches "
                   "(apt install fluid-soundfont-gm)")]  # fmt: skip
    elif module is None:
        names = ", ".join(str(p) for p in fonts)
        checks = [("soundfonts", WARN, f"found {names}, but {why}; sampled tracks play their synth patches")]
    else:
        names = ", ".join(str(p) for p in fonts)
        checks = [("soundfonts", OK, f"FluidSynth {fluidsynth_version()} plays {names}")]
        checks.append(soundfont_copies())
    try:
        library = StyleLibrary()
    except StyleError:
        return checks  # check_styles reports it
    played = []
    for name, pack in library.packs.items():
        for track, patch in pack.instruments.items():
            if patch.sampled is not None:
                played.append(f"{name} {track}: {what_plays(patch.sampled)}")
    if played:
        fallback = any(": synth patch" in line for line in played)
        checks.append(("sampled tracks", WARN if fallback else OK, "; ".join(played)))
    return checks


def soundfont_copies() -> Check:
    """The SoundFonts trimmed to what the packs play (edge/render/fontcache.py): what the daemon loads."""
    from edge.render.fontcache import cache_dir

    folder = cache_dir()
    found = folder.glob("*") if folder.is_dir() else ()
    copies = sorted(p for p in found if p.suffix.lower() in (".sf2", ".sf3"))
    if not copies:
        return ("soundfont copies", OK, f"none yet in {folder}; the daemon writes them as it loads the packs")
    size = sum(p.stat().st_size for p in copies) / 1e6
    return ("soundfont copies", OK, f"{len(copies)} trimmed to the packs' presets in {folder}, {size:.0f} MB")


CHECKS: tuple[Callable[[Config], list[Check]], ...] = (
    check_styles,
    check_soundfonts,
    check_alsa,
    check_thermal,
    check_broker,
    check_models,
    check_gpio,
)


def run_checks(config: Config) -> list[Check]:
    """Every check; a check that crashes is itself reported as a FAIL line."""
    results: list[Check] = []
    for check in CHECKS:
        try:
            results += check(config)
        except Exception as exc:  # doctor must always finish its report
            results.append((check.__name__.removeprefix("check_"), FAIL, f"check crashed: {exc}"))
    return results


def doctor_command(config: Config) -> int:
    """Print the report; exit 1 when anything FAILs."""
    results = run_checks(config)
    width = max(len(name) for name, _, _ in results)
    write_stdout("".join(f"{status:<4}  {name:<{width}}  {hint}\n" for name, status, hint in results))
    return EXIT_FAILED if any(status == FAIL for _, status, _ in results) else EXIT_OK
