"""Performance measurements of the pipeline (docs/benchmarks.md): never timed unit tests."""
