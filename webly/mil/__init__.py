"""Multi-instance learning: classic MIL SVMs and the privileged-information (-PI, -DA) family."""

from ._common import BinaryMIL, MILClassifierBase
from .milcpb import MILCPBClassifier, MILCPBPIClassifier, MILCPBPIDAClassifier
from .misvm import MISVMClassifier, MiSVMClassifier
from .misvm_pi import MiSVMPIClassifier, MiSVMPIDAClassifier
from .smil import SbMILClassifier, SMILClassifier, SMILPIClassifier, SMILPIDAClassifier

__all__ = ["BinaryMIL", "MILClassifierBase", "MiSVMClassifier", "MISVMClassifier",
           "MiSVMPIClassifier", "MiSVMPIDAClassifier", "SMILClassifier", "SbMILClassifier",
           "SMILPIClassifier", "SMILPIDAClassifier", "MILCPBClassifier",
           "MILCPBPIClassifier", "MILCPBPIDAClassifier"]
