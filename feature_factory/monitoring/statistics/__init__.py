"""What is measured (no Dagster): the feature_stats SQL per feature and day (`feature_stats`), its
sketch mode (`sketch`), and `Summary`, the bounded statistics drift is judged from (`summary`)."""
