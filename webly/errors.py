"""Errors raised by webly.

Every error a user can fix by changing input names the offending field and says what to do, in one
line. The command-line runner prints such errors without a traceback and exits with status 2.
"""


def did_you_mean(word, choices):
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``word``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class WeblyError(Exception):
    """Base class of the errors webly raises for bad input.

    Subclasses take ``(field, message)``; they pickle with both, so an error raised in a worker
    process (joblib, dask) reaches the user as itself, with its message, not as a broken pool.
    """

    def __init__(self, field, message):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)

    def __reduce__(self):
        return type(self), (self.field, self.message)


class DataError(WeblyError, ValueError):
    """A dataset field is malformed (shape, NaN/inf, empty bag, unknown label ...).

    Parameters
    ----------
    field : str
        Name of the offending field (``X``, ``bags``, ``y`` ...).
    message : str
        What is wrong and how to fix it.
    """


class ConfigError(WeblyError, ValueError):
    """An experiment configuration is invalid; the message starts with the dotted field name."""
