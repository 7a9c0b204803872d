"""Why a feature drifted (no Dagster): attribution to segments, cohorts and landing files in the
warehouse (`attribution`), the diagnosis rules (`diagnosis`) and the day's diagnosis that reads
what they need (`root_cause`)."""
