"""Frozen copies of code before its optimisation: oracles for equivalence tests, never edited."""
