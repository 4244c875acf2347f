"""`python -m promote`."""

from promote.cli import main

main()
