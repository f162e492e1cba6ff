"""The declarative ingest-API target: `targets/<name>.yml` turned into a Singer target (target-<name>).

Records arrive as Singer streams in any order; each is checked against its entity's payload schema, spilled
to disk and, at the end of the input, sent entity by entity in dependency order, in batches, synchronously
or as asynchronous jobs. Whatever the API refuses goes to the dead-letter store with its reason.
"""
