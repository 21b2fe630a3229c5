"""The `headtwin` command line: thin wrappers over core and render functions."""
