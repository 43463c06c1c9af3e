"""API resources: ``client.models``, ``client.workflows``, ``client.executions``.

Kept for imports written against earlier releases (``knouds.resources.models.Models``); the
classes live in ``knouds._sync.resources`` and ``knouds._async.resources``.
"""
