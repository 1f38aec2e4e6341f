"""Accuracy tasks on real data no one here wrote: next-token (generation), retrieval (encoders), classification."""
