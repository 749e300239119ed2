"""Multi-instance learning: the classic MIL SVMs and (with the SVM+ solver) the -PI/-DA family."""

from ._common import BinaryMIL, MILClassifierBase
from .misvm import MISVMClassifier, MiSVMClassifier

__all__ = ["BinaryMIL", "MILClassifierBase", "MiSVMClassifier", "MISVMClassifier"]
