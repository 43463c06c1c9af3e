"""The emulator's pytest fixtures, for a ``pytest_plugins = ["knouds.testing.pytest_plugin"]``
line. Installing knouds already registers them (the ``knouds`` plugin, `knouds._pytest_plugin`);
this module only keeps that older spelling working."""

from __future__ import annotations

from knouds._pytest_plugin import knouds_async_client, knouds_client, knouds_emulator

__all__ = ["knouds_async_client", "knouds_client", "knouds_emulator"]
