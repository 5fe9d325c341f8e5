"""The version of sqlmig: recorded with every history row, shown by ``sqlmig --version``. Imports nothing."""

__version__ = "0.1.0"
