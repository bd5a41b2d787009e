"""How a command ends: its exit codes and the errors that map onto them.

``edge.cli`` turns these errors into one line on stderr and the exit code;
the subcommands raise them. Nothing here imports the rest of edge.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
"""The command ran but did not succeed: an output failed while being written, doctor found a FAIL."""
EXIT_USAGE = 2
"""A bad flag, config or style pack, or an output that cannot be written: nothing was done."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT)."""
EXIT_BROKEN_PIPE = 141
"""The reader of standard output went away (128 + SIGPIPE, as a shell reports it)."""


class UsageError(ValueError):
    """A command-line value is wrong; the message names the flag."""


class OutputError(Exception):
    """Writing an output failed after the command started. ``str()`` is the one line for stderr
    (empty when there is nothing to say, as when the reader of a pipe left)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code
