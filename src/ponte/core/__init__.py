"""Small shared pieces every layer may use: the error hierarchy, file locks, private JSONL files, log levels,
setting text parsing, scratch SQLite databases and the console-script names. Imports nothing else from Ponte."""
