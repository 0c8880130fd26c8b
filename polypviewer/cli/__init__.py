"""Command line front end; ``main.py`` dispatches, one small module per command."""
