"""Run records: what one pipeline run started by `ponte run` did.

`report` is the plugins' side (stdlib only; it does nothing when `ponte run` did not start the process); the
other modules are the launcher's: reading Meltano's JSON log, the status rules, the record, alerts.
"""
