"""Performance measurements of the pipeline (README, "Benchmarks"): never timed unit tests."""
