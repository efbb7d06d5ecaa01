"""Uploaded photos from Django requests, checked by the engine's one image loader."""
from __future__ import annotations

from django.conf import settings

from engine.imageio import CheckedUpload, ImageError, check_upload, too_large


def checked_photo(upload) -> CheckedUpload:
    """Read a Django UploadedFile (never more than the size cap) and check it; raises ImageError."""
    if upload is None:
        raise ImageError("no photo in the request: send it as the multipart field 'image'")
    limit = settings.STREETSHOP_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise too_large(upload.size, limit)
    data = upload.read(limit + 1)
    return check_upload(data, max_bytes=limit)
