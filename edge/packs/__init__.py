"""Installable sound-world packs: a folder, .tar.gz or .zip holding a style, samples, an artist
model, a licence and a manifest of sha256 sums, checked as untrusted data before it is installed."""
