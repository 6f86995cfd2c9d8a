"""`python -m service`: the whole `primer-search` command line."""

from service.cli import main

main()
