"""edge-music: endless, context-adaptive music for Raspberry Pi-class boards."""

__version__ = "0.1.0"
