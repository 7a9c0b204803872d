"""health domain: the pipeline watching itself, from Dagster's own run and event history.

Pure, Dagster-free logic: `samples` (what a history holds), `findings` (typed findings with a
severity), `settings` (thresholds), `episodes` (robust baselines and sustained deviations),
`forecast` (trends with uncertainty, time to a budget), `rules` (one detector per finding kind),
`evaluate` (history -> metrics + findings), `plots`. Wiring: `instance_history` (reads the
DagsterInstance's public API), `storage` (the warehouse side: volumes, lateness, size, the
`pipeline_health` table), `assets`, `sensors`, `freshness`, `definitions`. See docs/pipeline-health.md.
"""
