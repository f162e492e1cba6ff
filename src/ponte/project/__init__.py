"""The Meltano project Ponte runs in: its config, plugin installation, the plugins/ definitions and docs
generated from meltano.yml, and the local PostgreSQL a demo or a laptop uses."""
