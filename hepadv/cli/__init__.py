"""The ``hepadv`` command line: thin Typer commands over plain library functions."""
