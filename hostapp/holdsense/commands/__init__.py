"""One module per CLI sub-command.

Each module defines `register(subparsers) -> None`, which adds its parser and
sets `func=run` via `set_defaults`. `holdsense.cli` discovers the modules, so
adding a command never edits a shared list.
"""
