"""Exceptions shared across the package, kept free of heavy imports so the CLI starts fast."""

from __future__ import annotations


class SettingsError(Exception):
    """A settings file that cannot be read or does not validate."""
