"""Where the daemon keeps what it must remember: the state directory.

Under systemd (``StateDirectory=edge-music``) it is ``$STATE_DIRECTORY``; otherwise
``$XDG_STATE_HOME/edge-music`` (``~/.local/state/edge-music`` by default). The
credentials, session logs, the attribution ledger, installed packs and the
reimagine library each live in a folder of their own below it, unless the config
names another place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """The state directory for this process (not created here)."""
    env = os.environ if env is None else env
    state = env.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return Path(state)
    xdg = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "edge-music"


def state_path(name: str, configured: str = "", env: Mapping[str, str] | None = None) -> Path:
    """``configured`` when set, else the folder or file ``name`` in the state directory."""
    return Path(configured) if configured else state_dir(env) / name
