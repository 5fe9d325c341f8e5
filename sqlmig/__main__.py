"""``python -m sqlmig``: the same as the ``sqlmig`` command."""

from .cli.commands import main

main()
