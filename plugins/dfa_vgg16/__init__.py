"""The published DFA models (VGG-16 cascades), imported from the authors' .caffemodel files."""
from plugins.dfa_vgg16.aligner import DfaVgg16Aligner

__all__ = ["DfaVgg16Aligner"]
