"""The one image loader's upload check: the format from the bytes, the size after EXIF orientation."""
import io

import pytest
from PIL import Image

from engine.imageio import ImageError, check_upload


def test_an_upload_reports_the_size_of_the_photo_as_shown_after_exif_orientation():
    image = Image.new("RGB", (60, 40))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90": phones store portrait photos this way
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    checked = check_upload(buffer.getvalue())
    assert (checked.format, checked.width, checked.height, checked.extension) == ("JPEG", 40, 60, "jpg")


def test_a_photo_over_the_pixel_cap_is_refused_with_its_size():
    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, "PNG")
    with pytest.raises(ImageError, match="3000x3000 pixels is more than the 1,000,000 allowed"):
        check_upload(buffer.getvalue(), max_pixels=1_000_000)
