"""Content credentials: C2PA manifests signed by a per-device certificate (see README).

``keys`` makes and loads the device CA and signing certificate, ``manifest``
builds the manifest from what played, ``sign`` embeds it in a finished WAV
(falling back to RIFF LIST/INFO only) and ``verify`` reads and validates it.
"""
