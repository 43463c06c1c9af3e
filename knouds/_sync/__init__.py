# Generated from knouds/_async/__init__.py by scripts/unasync.py:
# edit that file, not this one.
"""The shells of `Client`: the client, its resources, the media downloads and the batch
driver."""
