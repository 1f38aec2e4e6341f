"""benchharness: a pytest-based benchmarking and regression harness for small models on edge hardware."""

__version__ = "0.1.0"
