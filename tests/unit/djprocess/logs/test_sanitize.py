"""``djprocess.logs.sanitize``: every input becomes a storable, readable line part."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from djprocess.logs.sanitize import (
    INVALID_LEVEL_KEY,
    clean_entry,
    clean_extra,
    clean_message,
    escape_text,
)


class BrokenStr:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        return "<BrokenStr>"


class BrokenBoth:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_plain_text_is_unchanged() -> None:
    assert clean_message("héllo ✓ 日本\nsecond line\t") == "héllo ✓ 日本\nsecond line\t"


def test_nul_and_surrogates_are_escaped_readably() -> None:
    assert clean_message("a\x00b") == "a\\x00b"
    assert clean_message("bad \ud800 surrogate") == "bad \\ud800 surrogate"
    assert escape_text("\udcff\x00") == "\\udcff\\x00"
    clean_message("x\ud83d").encode("utf-8")  # storable


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42, "42"),
        (None, "None"),
        (b"caf\xc3\xa9 \xff", "café \\xff"),
        (bytearray(b"ab"), "ab"),
        (["a", 1], "['a', 1]"),
        (BrokenStr(), "<BrokenStr>"),
        (BrokenBoth(), "<unprintable BrokenBoth object>"),
    ],
)
def test_non_strings_become_text(value: object, text: str) -> None:
    assert clean_message(value) == text


def test_long_messages_are_truncated_with_a_marker() -> None:
    text = clean_message("x" * 1000, max_length=100)
    assert text.startswith("x" * 100 + "\n[djprocess: message truncated, 100 of 1000 characters")
    assert "DJPROCESS_LOG_MAX_MESSAGE_LENGTH" in text
    assert clean_message("x" * 100, max_length=100) == "x" * 100


def test_the_limit_is_read_from_the_setting() -> None:
    with override_settings(DJPROCESS_LOG_MAX_MESSAGE_LENGTH=10):
        assert clean_message("0123456789abc").startswith("0123456789\n[djprocess: message")


def test_unknown_level_is_stored_as_info_and_kept_in_extra() -> None:
    message, level, extra = clean_entry("m", "LOUD", {"a": 1})
    assert (message, level) == ("m", "INFO")
    assert extra == {"a": 1, INVALID_LEVEL_KEY: "'LOUD'"}


def test_extras_become_json_safe() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<Thing>"

    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    extra = clean_extra(
        {
            "ok": [1, 2.5, True, None, "s"],
            3: "int key",
            ("t",): "tuple key",
            "obj": Thing(),
            "nan": float("nan"),
            "inf": float("-inf"),
            "set": {1},
            "decimal": Decimal("1.5"),
            "nested": {"tuple": (1, "\x00")},
            "nul\x00key": "\ud800",
            "cyclic": cyclic,
        }
    )
    json.dumps(extra, allow_nan=False).encode("utf-8")  # storable anywhere
    assert extra["ok"] == [1, 2.5, True, None, "s"]
    assert extra["3"] == "int key"
    assert extra["('t',)"] == "tuple key"
    assert extra["obj"] == "<Thing>"
    assert extra["nan"] == "nan"
    assert extra["inf"] == "-inf"
    assert extra["set"] == "{1}"
    assert extra["decimal"] == "Decimal('1.5')"
    assert extra["nested"] == {"tuple": [1, "\\x00"]}
    assert extra["nul\\x00key"] == "\\ud800"


@pytest.mark.parametrize(
    ("extra", "cleaned"),
    [(None, {}), ([1, 2], {"value": [1, 2]}), ("text", {"value": "text"}), (5, {"value": 5})],
)
def test_non_mapping_extras_are_wrapped(extra: object, cleaned: dict[str, Any]) -> None:
    assert clean_extra(extra) == cleaned


def test_an_extra_value_whose_repr_fails_is_named_by_its_type() -> None:
    assert clean_extra({"obj": BrokenBoth()}) == {"obj": "<unrepresentable BrokenBoth object>"}
