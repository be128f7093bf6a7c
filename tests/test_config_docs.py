"""docs/configuration.md's settings table is the rendering of Settings: a setting without docs fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapbuy.config import Settings
from snapbuy.config_docs import (
    BEGIN_MARKER,
    END_MARKER,
    committed_table,
    main,
    render_settings_table,
    replace_table,
)

PAGE = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert missing == [], f"settings without a description: {missing}"


def test_committed_table_is_the_rendering() -> None:
    committed = committed_table(PAGE.read_text(encoding="utf-8"))
    assert committed == render_settings_table(), (
        "docs/configuration.md is stale: run `python -m snapbuy.config_docs docs/configuration.md`"
    )


def test_table_has_one_row_per_setting_named_by_its_variable() -> None:
    rows = render_settings_table().splitlines()[2:]
    assert len(rows) == len(Settings.model_fields)
    for row, name in zip(rows, Settings.model_fields, strict=True):
        assert row.startswith(f"| `SNAPBUY_{name.upper()}` |")


def test_main_checks_and_rewrites_only_the_table(tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"
    page.write_text(f"# Settings\n\nprose\n\n{BEGIN_MARKER}\n| old |\n{END_MARKER}\n\nmore prose\n")
    assert main(["--check", str(page)]) == 1
    assert main([str(page)]) == 0
    text = page.read_text()
    assert text.startswith("# Settings\n\nprose\n\n") and text.endswith(f"{END_MARKER}\n\nmore prose\n")
    assert committed_table(text) == render_settings_table()
    assert main(["--check", str(page)]) == 0


def test_a_page_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="no"):
        replace_table("# no table here\n", render_settings_table())
