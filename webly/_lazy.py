"""Lazy package attributes: a name is imported from its module on first access (PEP 562), so
``import webly`` stays fast and offline (torch, gensim and numba load only when used)."""

import importlib
import sys


def lazy_attributes(package, table):
    """``(__getattr__, __dir__)`` for ``package`` resolving each ``table`` name from its module
    (an absolute name, or a relative one such as ``".simplex"``) and caching it."""

    def __getattr__(name):
        if name in table:
            value = getattr(importlib.import_module(table[name], package), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
