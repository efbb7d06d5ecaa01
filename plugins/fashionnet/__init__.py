"""The default extractor: FashionNet-style global + landmark-pooling embedding."""
from plugins.fashionnet.extractor import FashionNetExtractor

__all__ = ["FashionNetExtractor"]
