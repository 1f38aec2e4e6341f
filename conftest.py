"""Repo-local fixtures only. The benchharness plugin registers itself through its pytest11 entry
point; listing it here too would make pytest refuse to start ("Plugin already registered")."""
