"""The command line: click commands, every text and JSON format, exit codes. The library never imports it."""

from .commands import main

__all__ = ["main"]
