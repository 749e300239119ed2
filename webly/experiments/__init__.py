"""Config-driven experiments: validation, registries, the runner and the report."""
