"""``python -m textgate`` is the ``textgate`` command."""

from textgate.cli import main

main()
