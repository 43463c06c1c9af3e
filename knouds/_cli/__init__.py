"""The ``knouds`` command line (``python -m knouds``); its entry point is `knouds._cli.main.main`.

Nothing is imported here, so that ``import knouds._cli.main`` stays as light as before.
"""
