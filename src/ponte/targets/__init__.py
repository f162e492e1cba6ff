"""Singer targets: loaders that write what taps extract (`postgres`) or push it to ingest APIs."""
