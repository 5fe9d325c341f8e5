"""``python -m sqlmig``: the same as the ``sqlmig`` command."""

from .cli import main

main()
