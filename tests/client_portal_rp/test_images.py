"""Photo processing: location metadata removed (JPEG losslessly), HEIC/TIFF renditions,
thumbnails upright, damaged and oversized files refused with a French message."""

from __future__ import annotations

import io
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image, ImageChops

from client_portal_rp import images
from client_portal_rp.files import FileKind, sniff
from client_portal_rp.images import PhotoUnreadable, process_photo

pillow_heif.register_heif_opener()

GPS = {
    1: "N",
    2: (48.0, 51.0, 29.6),
    3: "E",
    4: (2.0, 17.0, 40.2),
    29: "2024:03:01",
}
XMP_WITH_GPS = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-'
    b'rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'exif:GPSLatitude="48,51.4933N"/></rdf:RDF></x:xmpmeta>'
)


def photo_exif(*, gps: bool, orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Apple"  # Make
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2024:03:01 10:00:00"  # DateTimeOriginal
    if gps:
        exif.get_ifd(0x8825).update(GPS)
    return exif


def gradient(size: tuple[int, int]) -> Image.Image:
    """A non-uniform picture, so that re-encoding would show."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    image.paste((200, 40, 40), (0, 0, size[0] // 4, size[1] // 4))
    return image


def save(path: Path, image: Image.Image, fmt: str, **options: object) -> Path:
    image.save(path, fmt, **options)
    return path


def gps_of(path: Path) -> dict[int, object]:
    with Image.open(path) as image:
        return dict(image.getexif().get_ifd(0x8825))


def test_jpeg_gps_removed_losslessly(tmp_path: Path) -> None:
    src = save(
        tmp_path / "recu.jpg",
        gradient((640, 480)),
        "JPEG",
        quality=85,
        exif=photo_exif(gps=True),
        xmp=XMP_WITH_GPS,
    )
    assert gps_of(src)  # the sample carries a location
    result = process_photo(src, FileKind.JPEG, tmp_path / "out")
    assert result.gps_removed and result.clean is not None
    assert gps_of(result.clean) == {}
    cleaned = result.clean.read_bytes()
    assert b"GPS" not in cleaned and b"ns.adobe.com/xap" not in cleaned
    with Image.open(result.clean) as image:
        exif = image.getexif()
        assert exif[0x010F] == "Apple" and exif[0x0112] == 1
        assert exif.get_ifd(0x8769)[0x9003] == "2024:03:01 10:00:00"
    # Lossless: the compressed image data after the header is the same, byte for byte.
    original = src.read_bytes()
    scan = original.index(b"\xff\xda")
    assert cleaned.endswith(original[scan:])
    with Image.open(src) as a, Image.open(result.clean) as b:
        assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
    assert result.rendition is None


def test_jpeg_without_location_needs_no_clean_copy(tmp_path: Path) -> None:
    src = save(tmp_path / "a.jpg", gradient((100, 80)), "JPEG", exif=photo_exif(gps=False))
    result = process_photo(src, FileKind.JPEG, tmp_path / "out")
    assert result.clean is None and not result.gps_removed
    assert result.thumbnail.exists()


def test_thumbnail_is_upright_and_at_most_320(tmp_path: Path) -> None:
    # Stored 800x400 with Orientation 6 (rotate 90°): shown 400x800, so the thumbnail is 160x320.
    src = save(
        tmp_path / "p.jpg", gradient((800, 400)), "JPEG", exif=photo_exif(gps=True, orientation=6)
    )
    result = process_photo(src, FileKind.JPEG, tmp_path / "out")
    with Image.open(result.thumbnail) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (160, 320)
        assert not thumb.getexif().get_ifd(0x8825)
    assert sniff(result.thumbnail) is FileKind.JPEG


def test_heic_gets_a_jpeg_rendition_and_a_clean_copy(tmp_path: Path) -> None:
    src = save(
        tmp_path / "IMG_0001.heic",
        gradient((640, 480)),
        "HEIF",
        exif=photo_exif(gps=True),
        xmp=XMP_WITH_GPS,
    )
    assert sniff(src) is FileKind.HEIC and gps_of(src)
    result = process_photo(src, FileKind.HEIC, tmp_path / "out")
    assert result.rendition is not None
    with Image.open(result.rendition) as rendition:
        assert rendition.format == "JPEG" and rendition.size == (640, 480)
    assert gps_of(result.rendition) == {}
    assert result.gps_removed and result.clean is not None
    assert sniff(result.clean) is FileKind.HEIC and gps_of(result.clean) == {}
    # Not re-encoded (that takes ~20 s for 12 MP): the metadata was overwritten in place.
    assert result.clean.stat().st_size == src.stat().st_size
    assert b"GPSLatitude" not in result.clean.read_bytes()
    with Image.open(src) as a, Image.open(result.clean) as b:
        assert ImageChops.difference(a, b).getbbox() is None
        assert b.getexif()[0x010F] == "Apple"
    with Image.open(result.thumbnail) as thumb:
        assert thumb.size == (320, 240)


def test_tiff_and_png_with_location(tmp_path: Path) -> None:
    tiff = save(
        tmp_path / "scan.tif",
        gradient((300, 200)),
        "TIFF",
        tiffinfo={0x010F: "Apple", 0x8825: GPS},
    )
    assert gps_of(tiff)
    result = process_photo(tiff, FileKind.TIFF, tmp_path / "out")
    assert result.clean is not None and gps_of(result.clean) == {}
    assert result.rendition is not None and sniff(result.rendition) is FileKind.JPEG
    with Image.open(tiff) as a, Image.open(result.clean) as b:  # lossless
        assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None

    rgba = gradient((640, 400)).convert("RGBA")
    png = save(tmp_path / "capture.png", rgba, "PNG", exif=photo_exif(gps=True))
    result = process_photo(png, FileKind.PNG, tmp_path / "out")
    assert result.clean is not None and gps_of(result.clean) == {}
    assert result.rendition is None
    with Image.open(result.thumbnail) as thumb:
        assert thumb.mode == "RGB" and thumb.size == (320, 200)


def test_truncated_and_garbage_files_are_unreadable(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    gradient((640, 480)).save(buffer, "JPEG", exif=photo_exif(gps=True))
    truncated = tmp_path / "coupe.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(PhotoUnreadable) as refused:
        process_photo(truncated, FileKind.JPEG, tmp_path / "out")
    assert refused.value.message == "Cette image est illisible ou endommagée."
    garbage = tmp_path / "faux.heic"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 100)
    with pytest.raises(PhotoUnreadable):
        process_photo(garbage, FileKind.HEIC, tmp_path / "out")


def test_decompression_bomb_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small file that declares a huge picture: refused from its header."""
    bomb = save(tmp_path / "bomb.png", Image.new("1", (12_000, 10_000)), "PNG", optimize=True)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(PhotoUnreadable, match="trop grande"):
        process_photo(bomb, FileKind.PNG, tmp_path / "out")
    # Pillow's own guard stays armed too (a lower limit than ours).
    monkeypatch.setattr(images, "MAX_PIXELS", 10**12)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000_000)
    with pytest.raises(PhotoUnreadable, match="trop grande"):
        process_photo(bomb, FileKind.PNG, tmp_path / "out")
