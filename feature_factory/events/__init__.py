"""Events: the landing-file contract, the synthetic generator, validated ingestion."""
