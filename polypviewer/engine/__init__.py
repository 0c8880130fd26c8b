"""Everything that is not Qt: models, pre/post-processing, inference, metrics, media I/O.

This package must never import Qt, the GUI or ``training`` (an import-linter contract).
"""
