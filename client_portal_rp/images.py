"""Photos deposited by clients, processed in a background job after the HTTP answer: where the
phone wrote the place a photo was taken (EXIF GPS, XMP), a copy without it; a JPEG rendition of
HEIC and TIFF for browsers that show neither; a small thumbnail for lists.

A JPEG is cleaned losslessly: its metadata segments are rewritten (GPS IFD and maker notes out of
the EXIF, XMP and Photoshop/IPTC blocks dropped) and the compressed image data is copied byte for
byte. PNG and TIFF are re-encoded losslessly, HEIC at high quality (HEVC has no lossless edit).
Image size is checked before decoding (decompression bombs), and any unreadable file becomes
`PhotoUnreadable` with a French message.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from client_portal_rp.files import PHOTO_KINDS, FileKind

pillow_heif.register_heif_opener()

MAX_PIXELS = 100_000_000  # a 100 MP photo is already a medium-format camera's
THUMBNAIL_SIZE = 320
RENDITION_QUALITY = 90
HEIC_QUALITY = 90
THUMBNAIL_QUALITY = 80
GPS_IFD = 0x8825
EXIF_IFD = 0x8769
MAKER_NOTE = 0x927C
XMP_SIGNATURES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")


class PhotoUnreadable(Exception):
    """The file cannot be read as an image (damaged, truncated, too large); `message` is French."""

    def __init__(self, message: str = "Cette image est illisible ou endommagée.") -> None:
        super().__init__(message)
        self.message = message


@dataclass
class PhotoResult:
    """What the job made, in `work_dir`: `clean` is the photo without location metadata (None
    when there was none: the original is clean), `rendition` a JPEG for HEIC/TIFF (None for
    JPEG/PNG), `thumbnail` a JPEG of at most 320 px. `gps_removed` says the original carried
    a location."""

    clean: Path | None
    rendition: Path | None
    thumbnail: Path
    gps_removed: bool


def process_photo(src: Path, kind: FileKind, work_dir: Path) -> PhotoResult:
    """Clean, render and thumbnail the photo `src` of kind `kind` (from files.sniff)."""
    if kind not in PHOTO_KINDS:
        raise ValueError(f"not a photo kind: {kind}")
    work_dir.mkdir(parents=True, exist_ok=True)
    stem = src.stem
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _process(src, kind, work_dir, stem)
    except PhotoUnreadable:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large() from None
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        IndexError,
        KeyError,
        TypeError,
    ) as error:
        raise PhotoUnreadable() from error


def _too_large() -> PhotoUnreadable:
    return PhotoUnreadable(
        f"Cette image est trop grande pour être traitée (plus de {MAX_PIXELS // 1_000_000} "
        "mégapixels)."
    )


def _open(src: Path) -> Image.Image:
    image = Image.open(src)
    width, height = image.size
    if width * height > MAX_PIXELS:
        image.close()
        raise _too_large()
    return image


def _has_location(image: Image.Image) -> bool:
    if image.getexif().get_ifd(GPS_IFD):
        return True
    xmp = image.info.get("xmp") or b""
    if isinstance(xmp, str):
        xmp = xmp.encode()
    return b"GPS" in xmp


def _process(src: Path, kind: FileKind, work_dir: Path, stem: str) -> PhotoResult:
    with _open(src) as image:
        has_location = _has_location(image)
        exif = image.getexif()
        icc = image.info.get("icc_profile")
        raw_exif, raw_xmp = image.info.get("exif"), image.info.get("xmp")
        if kind is FileKind.JPEG:
            # Decoding at 1/2..1/8 scale is enough for the thumbnail and still reads every byte.
            image.draft("RGB", (THUMBNAIL_SIZE * 2, THUMBNAIL_SIZE * 2))
        image.load()
        upright = ImageOps.exif_transpose(image)
    # Re-encoded copies carry no metadata but the colour profile and resolution: writers
    # (pillow-heif, PNG) would otherwise copy the EXIF and XMP they were read with.
    upright.info = {k: v for k, v in upright.info.items() if k in {"icc_profile", "dpi"}}

    thumbnail = work_dir / f"{stem}.thumbnail.jpg"
    small = upright.copy()
    small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE), Image.Resampling.LANCZOS)
    _as_rgb(small).save(thumbnail, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)

    rendition = None
    if kind in {FileKind.HEIC, FileKind.TIFF}:
        rendition = work_dir / f"{stem}.rendition.jpg"
        _as_rgb(upright).save(
            rendition, "JPEG", quality=RENDITION_QUALITY, icc_profile=icc, optimize=True
        )

    clean = None
    if has_location:
        clean = work_dir / f"{stem}.clean{kind.extension}"
        if kind is FileKind.JPEG:
            _strip_jpeg(src, clean, exif)
        elif kind is FileKind.PNG:
            upright.save(clean, "PNG", icc_profile=icc, optimize=False)
        elif kind is FileKind.TIFF:
            upright.save(clean, "TIFF", compression="tiff_deflate", icc_profile=icc)
        elif not _patch_heif(src, clean, exif, raw_exif, raw_xmp):
            # Re-encoding HEVC takes seconds (about 20 s for 12 MP here): only when the
            # metadata could not be overwritten in place.
            upright.save(clean, "HEIF", quality=HEIC_QUALITY, icc_profile=icc)
    return PhotoResult(clean, rendition, thumbnail, has_location)


def _as_rgb(image: Image.Image) -> Image.Image:
    """RGB for JPEG: transparency over white, CMYK and 16-bit converted."""
    if image.mode in {"RGBA", "LA", "P", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode == "I;16" or image.mode == "I":
        return image.point(lambda value: value / 256).convert("RGB")
    return image.convert("RGB") if image.mode != "RGB" else image


def _exif_without_location(exif: Image.Exif) -> bytes:
    """The EXIF block (with its `Exif\\0\\0` header) minus the GPS IFD and the maker notes
    (vendors' opaque blocks, some carry a position); orientation and the rest kept."""
    exif_ifd = exif.get_ifd(EXIF_IFD)  # loaded so that tobytes writes it
    exif_ifd.pop(MAKER_NOTE, None)
    if GPS_IFD in exif:
        del exif[GPS_IFD]
    data = exif.tobytes()
    return data if data.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + data


def _strip_jpeg(src: Path, dst: Path, exif: Image.Exif) -> None:
    """Rewrite the JPEG's header segments and copy its compressed data unchanged."""
    data = src.read_bytes()
    if data[:2] != b"\xff\xd8":
        raise PhotoUnreadable()
    out = bytearray(b"\xff\xd8")
    position = 2
    while True:
        if position + 4 > len(data) or data[position] != 0xFF:
            raise PhotoUnreadable()
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            out += data[position:]
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        segment = data[position : position + 2 + length]
        payload = segment[4:]
        position += 2 + length
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            new_payload = _exif_without_location(exif)
            if len(new_payload) + 2 <= 0xFFFF:
                out += b"\xff\xe1" + struct.pack(">H", len(new_payload) + 2) + new_payload
            continue  # too big to fit one segment (never seen): dropped whole
        if marker == 0xE1 and payload.startswith(XMP_SIGNATURES):
            continue
        if marker == 0xED:  # Photoshop/IPTC: place names
            continue
        out += segment
    dst.write_bytes(bytes(out))


EMPTY_XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>'
)


def _patch_heif(src: Path, dst: Path, exif: Image.Exif, raw_exif: object, raw_xmp: object) -> bool:
    """Remove the location from a HEIC without re-encoding it: its EXIF and XMP are items whose
    bytes sit in the file at offsets the container lists, so each is overwritten in place by a
    version without location, padded to the same length (zeros after a TIFF block, spaces after
    an XMP packet). False, and nothing written, when a block cannot be found once exactly or
    the result does not read back clean."""
    data = bytearray(src.read_bytes())
    if isinstance(raw_exif, bytes) and raw_exif:
        stored = raw_exif[6:] if raw_exif.startswith(b"Exif\x00\x00") else raw_exif
        new = _exif_without_location(exif)[6:]
        if not _overwrite_once(data, stored, new, b"\x00"):
            return False
    if isinstance(raw_xmp, str):
        raw_xmp = raw_xmp.encode()
    if (
        isinstance(raw_xmp, bytes)
        and raw_xmp
        and not _overwrite_once(data, raw_xmp, EMPTY_XMP, b" ")
    ):
        return False
    dst.write_bytes(bytes(data))
    try:
        with Image.open(dst) as check:
            check.load()
            if not _has_location(check):
                return True
    except (OSError, ValueError, SyntaxError):
        pass
    dst.unlink(missing_ok=True)
    return False


def _overwrite_once(data: bytearray, old: bytes, new: bytes, pad: bytes) -> bool:
    position = data.find(old)
    if position < 0 or len(new) > len(old) or data.find(old, position + 1) >= 0:
        return False
    data[position : position + len(old)] = new + pad * (len(old) - len(new))
    return True
