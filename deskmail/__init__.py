"""deskmail: a self-hosted email channel for helpdesks."""

__version__ = "0.1.0"
