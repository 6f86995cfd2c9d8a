"""`python -m primer_search`: the core's commands (ops, seeds, dna, train). The whole command
line, with the service's commands, is `primer-search` or `python -m service`."""

from primer_search.cli import main

main()
