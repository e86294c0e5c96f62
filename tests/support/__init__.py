"""Reusable test helpers (fake upstreams)."""
