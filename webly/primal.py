"""Moved to :mod:`webly.solvers.primal` (every solver lives in ``webly/solvers``); this alias
answers with a FutureWarning and goes in the next release."""

import warnings

from .solvers import primal as _primal


def __getattr__(name):
    warnings.warn("webly.primal moved to webly.solvers.primal; import from there (this alias "
                  "goes in the next release)", FutureWarning, stacklevel=2)
    return getattr(_primal, name)
