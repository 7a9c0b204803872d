"""The synthetic event generator: landing files with known, injected drifts and their ground truth.

Not production ingestion: nothing below the top layer imports it (the demo, the CLI, the benchmarks
and the tests do)."""
