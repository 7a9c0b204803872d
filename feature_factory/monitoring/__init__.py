"""monitoring domain: feature health against a captured baseline, one folder per concern.

    statistics/  what is measured, in SQL (no Dagster)
        feature_stats.py  write_feature_stats(warehouse, start, end, features): feature_stats rows
        sketch.py         the sampled (sketch) mode of that SQL
        summary.py        Summary: one feature's bounded statistics over a day or a window
    detection/   whether it drifted, and how badly (no Dagster)
        metrics.py, gates.py, trend.py, thresholds.py   effect sizes, noise tests, severity scale
        drift.py          compare(feature, current, baseline, Thresholds()) -> FeatureDrift (pure)
        baseline.py       capture_baseline(...), current_baseline(warehouse) -> Baseline | None
    explain/     why (no Dagster): attribution.py (segments, cohorts, files), diagnosis.py (rules),
                 root_cause.py (one judged day's diagnosis from the warehouse)
    report/      what it hands out (no Dagster): alerts.py (evaluate_day -> DayDrift, drift_alerts
                 rows), alert_record.py (the typed row remediation reads), presentation.py (UI
                 table and plots), evidently_report.py (Evidently's second opinion)
    kinds.py, subject.py   the domain's vocabulary: DriftType / Diagnosis enums, what is watched
    assets.py, entity_assets.py, checks.py, sensors.py, jobs.py, definitions.py, config.py,
    inputs.py, notifier.py   the Dagster wiring (and the raw-input SQL the assets hand in)
"""
