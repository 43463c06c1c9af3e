"""API resources: ``client.models``, ``client.workflows``, ``client.executions``."""
