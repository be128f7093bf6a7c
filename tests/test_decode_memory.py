"""Peak memory of decoding a 39.7 MP photo as uploads are decoded (max_side) and in full, each in a
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
max_side = int(sys.argv[2]) or None
before = peak_kb()
image = decode_image(data, max_bytes=len(data), max_pixels=50_000_000, max_side=max_side)
after = peak_kb()
print(json.dumps({"growth_kb": after - before, "size": image.size}))
"""


def peak_growth_mb(path: Path, max_side: int | None) -> tuple[float, tuple[int, int]]:
    """Peak RSS growth of one decode, in MB."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(max_side or 0)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"},
        check=True,
    )
    out = json.loads(result.stdout)
    return out["growth_kb"] / 1024, tuple(out["size"])


def photo(mode: str) -> Image.Image:
    """Mostly flat colour (a small file) with a few shapes."""
    img = Image.new(mode, SIZE, (200, 190, 180, 255) if mode == "RGBA" else (200, 190, 180))
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
    print(f"{fmt} {mode} {SIZE}: max_side={UPLOAD_SIDE}: {bounded:.0f} MB -> {size}; full: {full:.0f} MB")
    assert max(size) == UPLOAD_SIDE
    assert full_size == SIZE
    assert bounded < limit_mb
    assert bounded < full / 2
