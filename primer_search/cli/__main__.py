"""`python -m primer_search.cli`."""

from primer_search.cli import main

main()
