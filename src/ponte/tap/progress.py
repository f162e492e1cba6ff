"""Record counts a person can follow while a long stream runs: every few seconds, with the total when known.

singer-sdk logs a stream's `record_count` metric once a minute and at its end. Ponte's streams log it every
`PONTE_PROGRESS_SECONDS` (5 by default) and tag it with `total`, the number of records the listing announced (Sienge's
`resultSetMetadata.count`), so `ponte run` can show records so far, the rate and an ETA. The points stay the
SDK's standard METRIC lines: machines read them from `--log-format json` as before.
"""

from __future__ import annotations

from singer_sdk import metrics

from ponte.runlog.report import TOTAL_TAG, progress_seconds


class ProgressCounter(metrics.Counter):
    """The SDK's record counter, logged every few seconds, carrying the expected total once a page says it."""

    def __init__(self, stream: str, endpoint: str | None = None, log_interval: float | None = None) -> None:
        tags: dict[str, object] = {metrics.Tag.STREAM: stream}
        if endpoint:
            tags[metrics.Tag.ENDPOINT] = endpoint
        interval = progress_seconds() if log_interval is None else log_interval
        super().__init__(metrics.Metric.RECORD_COUNT, tags, log_interval=interval)
        self.counted = 0

    def increment(self, value: int = 1) -> None:
        """Count records (the SDK logs the count since the last point when the interval has passed)."""
        self.counted += value
        super().increment(value)

    def expect_more(self, remaining: int) -> None:
        """`remaining` records are still to come in the current listing (this page included)."""
        self.tags[TOTAL_TAG] = self.counted + max(0, remaining)
