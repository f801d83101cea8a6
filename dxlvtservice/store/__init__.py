"""Stores of shared state: host-local diskcache (the default) or a fleet's Redis."""
