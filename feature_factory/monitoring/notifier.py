"""Where drift alerts go: a pluggable `notifier` resource. (When the drift sensor acts, its
`drift_response` policy, lives beside the sensor in sensors.py.)

`LogNotifier` (default) writes the alert to the log; `WebhookNotifier` POSTs it as JSON to any URL
(Slack/Teams/PagerDuty-style incoming webhooks, or your own service) with a timeout; a failed
delivery is logged and reported as False, never raised, so a flaky endpoint cannot stop the sensor.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import dagster as dg
from pydantic import Field

log = logging.getLogger("feature_factory.monitoring")


class Notifier(dg.ConfigurableResource):
    """Base notifier: `notify(alert)` returns True when the alert was delivered."""

    def notify(self, alert: dict[str, Any]) -> bool:
        raise NotImplementedError


class LogNotifier(Notifier):
    """Writes each alert to the Dagster/Python log (the default: no external service needed)."""

    level: str = Field(default="WARNING", description="Log level of alert messages.")

    def notify(self, alert: dict[str, Any]) -> bool:
        dg.get_dagster_logger().log(
            logging.getLevelName(self.level.upper()), "drift alert: %s", json.dumps(alert, default=str))
        return True


class WebhookNotifier(Notifier):
    """POSTs each alert as JSON to `url`."""

    url: str = Field(description="Endpoint receiving a JSON POST per alert (use dg.EnvVar for secrets).")
    timeout_s: float = Field(default=5.0, description="Seconds before the POST is abandoned.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")

    def notify(self, alert: dict[str, Any]) -> bool:
        import requests

        try:
            resp = requests.post(self.url, data=json.dumps(alert, default=str), timeout=self.timeout_s,
                                 headers={"Content-Type": "application/json", **self.headers})
            resp.raise_for_status()
            return True
        except requests.RequestException as exc:
            # The URL may embed a token: log only the error class and status, not the address.
            status = getattr(getattr(exc, "response", None), "status_code", None)
            dg.get_dagster_logger().error(
                "drift webhook delivery failed (%s%s)", type(exc).__name__, f", HTTP {status}" if status else "")
            return False


WEBHOOK_ENV = "FEATURE_FACTORY_ALERT_WEBHOOK"


def notifier_from_env() -> Notifier:
    """`WebhookNotifier` when FEATURE_FACTORY_ALERT_WEBHOOK is set (its value is read through
    dg.EnvVar when a run starts, never here), else `LogNotifier`."""
    import os

    return WebhookNotifier(url=dg.EnvVar(WEBHOOK_ENV)) if os.environ.get(WEBHOOK_ENV) else LogNotifier()
