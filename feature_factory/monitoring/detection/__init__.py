"""Whether a feature drifted, and how badly (no Dagster): the drift metrics (`metrics`), the
severity scale and thresholds (`thresholds`), the baseline's own trend (`trend`), the noise gates
(`gates`), the verdict per feature and day (`drift`) and the baseline it is judged against
(`baseline`: capture, noise floor)."""
