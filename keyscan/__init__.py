"""keyscan: find leaked AWS credentials and tell which ones matter."""

__version__ = "0.1.0"
