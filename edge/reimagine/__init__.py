"""Reimagine: an existing track re-produced in a style, its melody kept note for note."""
