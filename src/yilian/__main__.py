"""`python -m yilian` runs the command line."""

from yilian.cli import main

main()
