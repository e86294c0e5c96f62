"""The claude-proxy benchmark suite: `python -m bench` (see "Benchmarks" in the README).

Nothing here is collected by pytest (no test_*.py names; testpaths is tests/).
"""
