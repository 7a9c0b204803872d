"""monitoring domain: feature health against a captured baseline.

    write_feature_stats(warehouse, start, end, features) # stats.py: feature_stats rows (SQL)
    capture_baseline(warehouse, start, end, features)    # baseline.py: a new current version
    current_baseline(warehouse) -> Baseline | None       # None: "no baseline captured yet"
    evaluate_day(warehouse, day, features) -> DayDrift   # alerts.py: per-feature FeatureDrift
    compare(feature, current, baseline, Thresholds())    # drift.py: types and severity (pure)
"""
