"""ProExtend sandbox: the ingest API target-proextend writes to (`ponte sandbox proextend`)."""
