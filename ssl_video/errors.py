"""Errors in what a user gave ssl_video (a path, a column, a value), as opposed to bugs.

Raised where input is checked, with a message that names the file, key or value and says how
to fix it. The ``ssl-video`` command prints such an error as one line on stderr and exits 2
(``--debug`` or ``SSL_VIDEO_DEBUG=1`` shows the traceback); every other exception is a bug and
keeps its traceback. Both are ``ValueError``s, so library callers catch them as before.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input: the message says what is wrong and how to fix it."""


class MissingInput(UserError, FileNotFoundError):
    """A file or folder the user named does not exist."""
