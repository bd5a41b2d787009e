"""How a command ends: its exit codes and the errors that map onto them.

``edge.cli`` turns these errors into one line on stderr and the exit code;
the subcommands raise them. Nothing here imports the rest of edge.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2
"""A bad flag, config or style pack, or an output that cannot be written: nothing was done."""


class UsageError(ValueError):
    """A command-line value is wrong; the message names the flag."""
