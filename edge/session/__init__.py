"""Session logs: what the daemon played, recorded so it can be replayed bit for bit and charted.

``recorder`` (daemon side) writes one JSONL file per session through ``log``;
``read`` parses and checks one; ``replay`` renders it again (WAV, MIDI);
``report`` draws its timeline. The line format lives in ``format``.
"""
