from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from snapbuy.catalog import ImageBase, ImageRef, read_catalog
from snapbuy.catalog.images import MAX_ADDITIONAL_IMAGES, image_refs, resolve_image
from snapbuy.errors import CatalogError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "feeds"
    (folder / "img").mkdir(parents=True)
    return folder


def _local(root: Path) -> ImageBase:
    return ImageBase(folder=root, url=None)


def test_relative_absolute_and_file_url_inside_the_root(root: Path) -> None:
    inside = root / "abs dir" / "x.png"
    base = _local(root)
    assert resolve_image("img/rel.jpg", base) == ImageRef(
        "img/rel.jpg", root.resolve() / "img/rel.jpg", None, None
    )
    assert resolve_image(str(inside), base).path == inside.resolve()
    assert resolve_image(inside.as_uri(), base).path == inside.resolve()  # %20 decoded
    assert resolve_image("file://localhost" + str(inside), base).path == inside.resolve()


@pytest.mark.parametrize(
    "link", ["../../etc/hostname", "/etc/hostname", "file:///etc/hostname", "img/../../x.jpg"]
)
def test_links_outside_the_root_are_problems(root: Path, link: str) -> None:
    ref = resolve_image(link, _local(root))
    assert (ref.link, ref.path, ref.url) == (link, None, None)
    assert ref.problem is not None and "image path escapes the image root" in ref.problem


def test_a_symlink_inside_the_root_pointing_outside_is_a_problem(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "img" / "link.jpg")
    ref = resolve_image("img/link.jpg", _local(root))
    assert ref.path is None and ref.problem is not None and "escapes the image root" in ref.problem


def test_web_links_become_urls_and_other_schemes_problems(root: Path) -> None:
    base = _local(root)
    assert resolve_image("https://cdn.example.com/a.jpg", base) == ImageRef(
        "https://cdn.example.com/a.jpg", None, "https://cdn.example.com/a.jpg", None
    )
    ftp = resolve_image("ftp://host/a.jpg", base)
    assert ftp.path is None and ftp.url is None and ftp.problem is not None
    assert "unsupported URL scheme 'ftp'" in ftp.problem
    remote_file = resolve_image("file://otherhost/a.jpg", base)
    assert remote_file.problem is not None and "another host 'otherhost'" in remote_file.problem
    assert resolve_image("http:///a.jpg", base).problem == "image URL has no host"


def test_a_url_feed_joins_relative_links_and_refuses_local_files_without_a_root() -> None:
    base = ImageBase(folder=None, url="https://shop.example/feeds/feed.xml")
    assert resolve_image("img/a.jpg", base).url == "https://shop.example/feeds/img/a.jpg"
    assert resolve_image("/img/a.jpg", base).url == "https://shop.example/img/a.jpg"
    local = resolve_image("file:///srv/img/a.jpg", base)
    assert local.path is None and local.problem is not None and "image root" in local.problem


def test_a_url_feed_with_an_image_root_reads_file_urls_inside_it(root: Path) -> None:
    base = ImageBase(folder=root, url="https://shop.example/feed.xml")
    assert resolve_image((root / "img" / "a.jpg").as_uri(), base).path == root.resolve() / "img" / "a.jpg"


def test_additional_images_past_the_limit_are_reported_not_dropped(root: Path) -> None:
    extra = [f"img/{i}.jpg" for i in range(MAX_ADDITIONAL_IMAGES + 2)]
    refs = image_refs({"image_link": "img/main.jpg", "additional_image_link": ",".join(extra)}, _local(root))
    assert [r.link for r in refs] == ["img/main.jpg", *extra]
    assert all(r.problem is None for r in refs[: MAX_ADDITIONAL_IMAGES + 1])
    for ref in refs[MAX_ADDITIONAL_IMAGES + 1 :]:
        assert (
            ref.path is None and ref.problem is not None and "more than 10 additional images" in ref.problem
        )


def test_additional_image_link_list_and_string(tmp_path: Path) -> None:
    rows = [
        {
            "id": "a",
            "title": "t",
            "price": "1 NOK",
            "image_link": "m.jpg",
            "additional_image_link": ["x.jpg", " "],
        },
        {"id": "b", "title": "t", "price": "1 NOK", "additional_image_link": "y.jpg, z.jpg"},
        {"id": "c", "title": "t", "price": "1 NOK", "additional_image_link": [1]},
    ]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows))
    catalog = read_catalog(path, skip_invalid=True)
    assert [[i.link for i in p.images] for p in catalog.products] == [["m.jpg", "x.jpg"], ["y.jpg", "z.jpg"]]
    assert [(r.line, r.field) for r in catalog.rejects] == [(3, "additional_image_link")]


def test_image_root_replaces_the_feed_folder(tmp_path: Path, root: Path) -> None:
    feed = tmp_path / "elsewhere" / "f.jsonl"
    feed.parent.mkdir()
    feed.write_text(json.dumps({"id": "a", "title": "t", "price": "1 NOK", "image_link": "img/a.jpg"}))
    (product,) = read_catalog(feed, image_root=root).products
    assert product.images[0].path == root.resolve() / "img" / "a.jpg"


def test_an_over_long_image_link_is_a_row_error(root: Path, tmp_path: Path) -> None:
    feed = tmp_path / "f.jsonl"
    feed.write_text(
        json.dumps({"id": "a", "title": "t", "price": "1 NOK", "additional_image_link": ["x" * 2001]})
    )
    with pytest.raises(CatalogError, match="additional_image_link is 2,001 characters; the limit is 2,000"):
        read_catalog(feed)
