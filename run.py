#!/usr/bin/env python
"""Run a webly experiment: ``python run.py configs/quickstart.yaml [key=value ...]``."""

import sys

from webly.cli import main

if __name__ == "__main__":
    sys.exit(main())
