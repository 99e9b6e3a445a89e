"""``python -m hvroll``."""

from hvroll.cli import main

main()
