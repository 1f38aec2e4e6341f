"""Models, their variants, and how each variant file is produced (`prepare`)."""
