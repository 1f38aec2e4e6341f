"""Accuracy tasks on real data no one here wrote."""
