"""Helpers shared by test packages (real servers the tests start and stop themselves)."""
