"""The resources of `AsyncClient`: ``models``, ``workflows`` and ``executions``."""
