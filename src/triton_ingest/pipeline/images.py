"""Images: PNG, JPEG, TIFF (every frame a page) and WebP, detected by their magic bytes and
decoded with Pillow. Pixel and frame counts are checked before anything is decoded, so an image
bomb costs a header read."""

from __future__ import annotations

import io
from typing import Iterator

import numpy as np

from ..errors import InvalidInputError

MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)


def image_kind(data: bytes) -> str | None:
    """``png``, ``jpeg``, ``tiff`` or ``webp`` from the magic bytes, else None."""
    for magic, kind in MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def open_image(data: bytes, max_pixels: int, max_pages: int = 1, what: str = "DOCUMENT"):
    """The image (Pillow, not yet decoded) after checking its size and frame count."""
    from PIL import Image

    kind = image_kind(data) or "image"
    Image.MAX_IMAGE_PIXELS = None  # max_pixels decides, below: Pillow's own bomb check is replaced
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        frames = getattr(image, "n_frames", 1)
    except MemoryError:
        raise  # the worker's memory limit, not a bad image (see extraction.py)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on hostile input
        if kind == "image":
            raise InvalidInputError(f"{what} is not an image in a supported format (PNG, JPEG, TIFF, WebP)",
                                    "unsupported_format") from None
        raise InvalidInputError(f"{what} is a corrupt or truncated {kind.upper()} image ({exc})", "corrupt_image") from None
    _check_pixels(width, height, max_pixels, what)
    if frames > max_pages:
        raise InvalidInputError(f"{what} has {frames} pages; the limit (max_pages) is {max_pages}", "too_many_pages")
    return image


def _check_pixels(width: int, height: int, max_pixels: int, what: str, frame: int | None = None) -> None:
    if width * height > max_pixels:
        where = f"page {frame + 1} of {what}" if frame else what
        raise InvalidInputError(f"{where} is a {width}x{height} image ({width * height} pixels); the limit "
                                f"(max_pixels) is {max_pixels}", "too_many_pixels")


def _rgb(image) -> "np.ndarray":
    """The frame as RGB pixels, transparency composited onto white."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image.convert("RGBA"))
    return np.asarray(image.convert("RGB"))


def decode_frame(image, max_pixels: int, index: int = 0, what: str = "DOCUMENT") -> np.ndarray:
    """Frame ``index`` as BGR ``[H, W, 3]`` uint8 (the channel order the OCR models expect); each
    frame's size is checked before it is decoded, as frames of one TIFF may differ."""
    try:
        image.seek(index)
        _check_pixels(*image.size, max_pixels, what, index)
        rgb = _rgb(image)
    except (InvalidInputError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow raises many kinds on hostile input
        raise InvalidInputError(f"{what} has a corrupt or truncated image (frame {index + 1}: {exc})",
                                "corrupt_image") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def decode_bgr(data: bytes, max_pixels: int, what: str = "IMAGE") -> np.ndarray:
    """The first frame of an encoded image as BGR pixels, after the limits are checked."""
    return decode_frame(open_image(data, max_pixels, max_pages=1 << 30, what=what), max_pixels, 0, what)


def frames_as_png(data: bytes, max_pixels: int, max_pages: int, first: int = 0, last: int | None = None) -> Iterator[bytes]:
    """Frames ``[first, last)`` (pages) of an image document, encoded as PNG for the OCR model; a
    single-frame image is passed on as it came."""
    from PIL import Image

    image = open_image(data, max_pixels, max_pages)
    count = getattr(image, "n_frames", 1)
    if count == 1:
        if first == 0 and last != 0:
            decode_frame(image, max_pixels)  # a truncated file fails here, with its own message, not inside OCR
            yield data
        return
    for index in range(first, count if last is None else min(last, count)):
        out = io.BytesIO()
        Image.fromarray(decode_frame(image, max_pixels, index)[:, :, ::-1]).save(out, "PNG", compress_level=1)
        yield out.getvalue()
