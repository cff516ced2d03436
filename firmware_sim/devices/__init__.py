"""Simulated devices: each builds exactly what the real one sends (floorops.contract), no I/O here."""
