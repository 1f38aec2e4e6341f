"""Run history: every run appended to a database, read back as per-metric series with change points."""
