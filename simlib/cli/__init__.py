"""The ``simlib`` command line: one module per command."""
