"""The default aligner: a DFA-style 3-stage cascade on EfficientNet-Lite0 features."""
from plugins.cascade_cnn.aligner import CascadeCnnAligner

__all__ = ["CascadeCnnAligner"]
