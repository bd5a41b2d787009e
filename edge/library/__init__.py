"""The reimagine library: tracks in a folder, played live reimagined or as written (see live.py)."""
