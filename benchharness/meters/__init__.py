"""Meters: each turns something the OS or a driver counts into Readings, with their source."""
