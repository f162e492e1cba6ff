"""Notifications: alerts by e-mail and webhook when a sync ends with failures, dead letters, or an error."""

from __future__ import annotations

from ponte.notify.alerts import SEVERITIES, Alert, Alerter, AlertSettings

__all__ = ["SEVERITIES", "Alert", "AlertSettings", "Alerter"]
