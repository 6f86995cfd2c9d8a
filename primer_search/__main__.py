"""`python -m primer_search`: the `primer-search` command line."""

from primer_search.cli import main

main()
