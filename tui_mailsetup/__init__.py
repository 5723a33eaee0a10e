"""Get a server's outbound email configured, tested and explained."""

__version__ = "0.1.0"
