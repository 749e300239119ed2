"""Errors raised by webly.

Every error a user can fix by changing input names the offending field and says what to do, in one
line. The command-line runner prints such errors without a traceback and exits with status 2.
"""


class WeblyError(Exception):
    """Base class of the errors webly raises for bad input."""


class DataError(WeblyError, ValueError):
    """A dataset field is malformed (shape, NaN/inf, empty bag, unknown label ...).

    Parameters
    ----------
    field : str
        Name of the offending field (``X``, ``bags``, ``y`` ...).
    message : str
        What is wrong and how to fix it.
    """

    def __init__(self, field, message):
        self.field = field
        super().__init__(f"{field}: {message}")


class ConfigError(WeblyError, ValueError):
    """An experiment configuration is invalid; the message starts with the dotted field name."""

    def __init__(self, field, message):
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)
