"""Console scripts: `ponte` and one entry point per tap and target."""
