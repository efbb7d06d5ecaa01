"""The ``full_image`` detector plugin: the whole photo as one garment (shop photos, flat-lays)."""
from plugins.full_image.detector import FullImageDetector, content_box, guess_garment_type

__all__ = ["FullImageDetector", "content_box", "guess_garment_type"]
