"""Shared command-line plumbing (cli/common.py)."""

from __future__ import annotations

import logging

from snapbuy.cli.common import configure_logging


def test_each_image_download_is_not_a_log_line_unless_verbose() -> None:
    httpx_log = logging.getLogger("httpx")
    before = httpx_log.level
    try:
        configure_logging(verbose=False)
        assert not httpx_log.isEnabledFor(logging.INFO)
        assert httpx_log.isEnabledFor(logging.WARNING)
        configure_logging(verbose=True)
        assert httpx_log.isEnabledFor(logging.DEBUG)
    finally:
        httpx_log.setLevel(before)
