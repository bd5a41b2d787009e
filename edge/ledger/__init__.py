"""The attribution ledger: seconds of music played, per day and per contributor (see README).

``contributors`` says who is credited for a second of music (the style pack and
its author, the model, the model's training sources weighted by their share of
the training data); ``store`` keeps the counts in SQLite (WAL); ``recorder``
batches them off the audio path; ``report`` reads them back for ``credits``,
MQTT and Home Assistant; ``commands`` holds ``edge-music credits`` and
``edge-music about``.
"""
