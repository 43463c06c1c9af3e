# Generated from knouds/_async/resources/__init__.py by scripts/unasync.py:
# edit that file, not this one.
"""The resources of `Client`: ``models``, ``workflows`` and ``executions``."""
