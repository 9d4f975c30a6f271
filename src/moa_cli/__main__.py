"""``python -m moa_cli``."""

from moa_cli.cli import main

main()
