"""Log formats (cli/logs.py): JSON lines with the request id and `extra` fields; text with the id."""

from __future__ import annotations

import io
import json
import logging

from snapbuy.api.request_log import request_id_var
from snapbuy.cli.logs import log_handler


def emit(json_lines: bool) -> str:
    stream = io.StringIO()
    logger = logging.getLogger("snapbuy.test-logs")
    logger.handlers, logger.propagate, logger.level = [log_handler(stream, json_lines)], False, logging.INFO
    token = request_id_var.set("req-12345678")
    try:
        logger.info("answered %s", "GET /v1/index", extra={"status": 200, "duration_ms": 1.5})
    finally:
        request_id_var.reset(token)
    return stream.getvalue()


def test_json_lines_hold_the_message_the_request_id_and_the_extra_fields() -> None:
    entry = json.loads(emit(json_lines=True))
    assert entry["message"] == "answered GET /v1/index"
    assert (entry["request_id"], entry["status"], entry["duration_ms"]) == ("req-12345678", 200, 1.5)
    assert (
        entry["level"] == "info" and entry["logger"] == "snapbuy.test-logs" and entry["ts"].endswith("+00:00")
    )


def test_text_lines_name_the_request() -> None:
    line = emit(json_lines=False)
    assert "[req-12345678]" in line and "answered GET /v1/index" in line
