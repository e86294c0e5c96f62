"""claude-proxy: a local gateway and terminal agent for the Anthropic API."""

__version__ = "0.1.0"
