"""Training-only code: data building, models, export. Never imported by the daemon."""
