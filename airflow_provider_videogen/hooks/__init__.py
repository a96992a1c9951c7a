"""Hooks: one per video-generation connection type, sharing :class:`~.base.VideoGenHook`."""
