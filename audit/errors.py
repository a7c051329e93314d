"""The one exception type for user mistakes.

A ``UserError`` means bad input (a missing path, an unknown format, an empty
split): the CLI prints its message on one line and exits 2, with no traceback.
"""


class UserError(Exception):
    """A problem with the user's input or options, with a message that names it."""
