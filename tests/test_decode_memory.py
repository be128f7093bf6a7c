"""Peak memory of decoding a 39.7 MP photo as uploads are decoded (detail_side) and in full, each in a
fresh Python process so that its peak RSS is attributable to the one decode. The peak is the
process's VmHWM: ru_maxrss would not do, since Linux carries the forking parent's (pytest's) peak
over into the child's ru_maxrss across exec."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from snapbuy.config import Settings

SIZE = (7000, 5670)  # 39.7 MP, under the default max_image_pixels of 40 M
UPLOAD_SIDE = 896  # QueryEncoder.photo_side for a 224-pixel model
MB = 1024 * 1024

MEASURE = """
import json, sys
from pathlib import Path
from snapbuy.imaging import decode_image
def peak_kb():
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["VmHWM"].split()[0])
data = Path(sys.argv[1]).read_bytes()
detail_side = int(sys.argv[2]) or None
full_limit = int(sys.argv[3]) or None
before = peak_kb()
try:
    size = decode_image(
        data,
        max_bytes=len(data),
        max_pixels=50_000_000,
        detail_side=detail_side,
        max_full_decode_pixels=full_limit,
    ).size
except Exception as exc:
    size = type(exc).__name__
after = peak_kb()
print(json.dumps({"growth_kb": after - before, "size": size}))
"""


def peak_growth_mb(
    path: Path, detail_side: int | None, full_limit: int | None = None
) -> tuple[float, tuple[int, int] | str]:
    """Peak RSS growth of one decode, in MB, and the decoded size (or the error's class name)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(detail_side or 0), str(full_limit or 0)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    out = json.loads(result.stdout)
    size = out["size"]
    return out["growth_kb"] / 1024, size if isinstance(size, str) else (size[0], size[1])


def photo(mode: str, size: tuple[int, int] = SIZE) -> Image.Image:
    """Mostly flat colour (a small file) with a few shapes."""
    img = Image.new(mode, size, (200, 190, 180, 255) if mode == "RGBA" else (200, 190, 180))
    draw = ImageDraw.Draw(img)
    draw.rectangle((1000, 1000, 3000, 2500), fill=(200, 30, 30))
    draw.ellipse((4000, 3000, 6500, 5000), fill=(20, 40, 220))
    return img


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "mode", "limit_mb"),
    [
        ("JPEG", "RGB", 100),  # decoded at 1/4 scale: about 10 MB of pixels
        # PNG has no reduced-scale decoding in Pillow: the full RGBA raster (4 bytes a pixel, 151 MiB)
        # is the floor; everything after it is strip-sized.
        ("PNG", "RGBA", 190),
        ("PNG", "RGB", 190),  # Pillow keeps RGB at 4 bytes a pixel too
    ],
)
def test_upload_decode_peak_memory(tmp_path: Path, fmt: str, mode: str, limit_mb: int) -> None:
    path = tmp_path / f"photo.{fmt.lower()}"
    photo(mode).save(path, fmt)
    bounded, size = peak_growth_mb(path, UPLOAD_SIDE)
    full, full_size = peak_growth_mb(path, None)
    print(f"{fmt} {mode} {SIZE}: detail_side={UPLOAD_SIDE}: {bounded:.0f} MB -> {size}; full: {full:.0f} MB")
    assert not isinstance(size, str) and UPLOAD_SIDE <= max(size) < 2 * UPLOAD_SIDE
    assert full_size == SIZE
    assert bounded < limit_mb
    assert bounded < full / 2


FULL_DECODE_LIMIT = 16_000_000  # the default SNAPBUY_MAX_FULL_DECODE_PIXELS


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
@pytest.mark.slow
def test_a_png_upload_costs_at_most_about_100_mb_and_a_bigger_one_is_refused_from_its_header(
    tmp_path: Path,
) -> None:
    allowed, too_big = tmp_path / "16mp.png", tmp_path / "40mp.png"
    photo("RGBA", (4600, 3450)).save(allowed)  # 15.9 MP
    photo("RGBA").save(too_big)
    cost, size = peak_growth_mb(allowed, UPLOAD_SIDE, FULL_DECODE_LIMIT)
    refused_cost, refused = peak_growth_mb(too_big, UPLOAD_SIDE, FULL_DECODE_LIMIT)
    assert Settings().max_full_decode_pixels == FULL_DECODE_LIMIT
    print(f"PNG RGBA 4600x3450: {cost:.0f} MB -> {size}; 7000x5670: {refused_cost:.0f} MB, {refused}")
    assert size == (920, 690) and cost < 100  # reduced by the whole factor 4600 // 896 = 5
    assert refused == "TooManyPixelsError" and refused_cost < 10
