"""See the ``video`` module."""
