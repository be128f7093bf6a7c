from __future__ import annotations

from snapbuy.fetching.limits import host_key


def test_host_key_is_host_and_port() -> None:
    assert host_key("http://127.0.0.1:8080/a.png") == "127.0.0.1:8080"
    assert host_key("https://Shop.Example/a.png") == "shop.example:443"
    assert host_key("http://shop.example/a.png") == "shop.example:80"
    assert host_key("http://localhost:8080/") != host_key("http://127.0.0.1:8080/")
