"""The claude-proxy benchmark suite: `python -m bench` (see bench/README in the main README).

Nothing here is collected by pytest (no test_*.py names; testpaths is tests/).
"""
