"""``edge-music pack install|list|remove|check``: the sound-world packs a user adds.

A refused pack prints one line per problem on stderr (``check``: on stdout, as its
report) and exits 2, having changed nothing. The daemon picks up what is installed
or removed on its next SIGHUP (``systemctl reload edge-music``).
"""

from __future__ import annotations

import sys
from typing import Any

from edge.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from edge.outputs import write_stdout
from edge.packs.archive import Limits
from edge.packs.store import PackError, check_source, install, installed, packs_dir, remove

RELOAD_HINT = "the daemon plays it after a reload: systemctl reload edge-music (or SIGHUP)"


def pack_command(args: Any, config: Any) -> int:
    """Run one ``pack`` subcommand; returns the exit code."""
    folder = packs_dir(config.packs.dir)
    limits = Limits.from_config(config.packs)
    action = args.pack_command
    try:
        if action == "check":
            name, problems = check_source(args.source, limits)
            if problems:
                write_stdout("".join(f"{line}\n" for line in problems))
                return EXIT_USAGE
            write_stdout(f"{name}: ok\n")
            return EXIT_OK
        if action == "install":
            pack = install(args.source, folder, limits, force=args.force)
            about = f"{pack.version or 'no version'} by {pack.credit}, licence {pack.licence or 'none'}"
            write_stdout(f"installed {pack.name} ({about}) in {folder / pack.name}\n{RELOAD_HINT}\n")
            return EXIT_OK
        if action == "remove":
            path = remove(args.name, folder)
            write_stdout(f"removed {args.name} from {path.parent}\n{RELOAD_HINT}\n")
            return EXIT_OK
        return _list(folder)
    except PackError as exc:
        for line in exc.problems:
            print(f"edge-music: error: {line}", file=sys.stderr)
        return EXIT_USAGE
    except PermissionError as exc:
        print(f"edge-music: error: {exc.filename or folder}: permission denied", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:  # a full disk while copying: nothing was installed
        print(f"edge-music: error: {exc.filename or folder}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED


def _list(folder: Any) -> int:
    packs = installed(folder)
    if not packs:
        write_stdout(f"no packs installed in {folder}\n")
        return EXIT_OK
    lines = []
    for item in packs:
        if item.pack is None:
            lines.append(f"{item.name}\tBROKEN: {item.problem}")
        else:
            p = item.pack
            lines.append(f"{p.name}\t{p.version}\t{p.credit}\t{p.licence}\t{p.description}")
    write_stdout("name\tversion\tauthor\tlicence\tdescription\n" + "".join(f"{line}\n" for line in lines))
    return EXIT_OK
