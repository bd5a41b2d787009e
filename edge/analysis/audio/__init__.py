"""Audio input for ``edge-music analyze`` and ``reimagine``: reading, beats, key, loudness, notes."""
