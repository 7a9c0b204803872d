"""What monitoring hands out (no Dagster): the day's drift_alerts rows (`alerts`), their typed
record for remediation (`alert_record`), the UI's drift table and histograms (`presentation`) and
Evidently's second opinion (`evidently_report`)."""
