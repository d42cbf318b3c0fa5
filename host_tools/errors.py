"""Errors the user can act on: the CLI prints them without a traceback."""


class UserError(Exception):
    """A problem the user can fix (a bad file, a bad option, no board)."""
