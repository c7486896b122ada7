"""``djprocess.conf``'s declaration type and validators: each kind of bad value gives the
declared check id, and a message naming the setting, what is wanted and the value."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error
from django.test import override_settings

from djprocess.conf import (
    Setting,
    Settings,
    Validator,
    declare,
    declared,
    dotted_path,
    integer,
    mapping,
    non_empty_string,
    one_of,
    seconds,
    string_list,
)

CASES: list[tuple[Validator, list[Any], list[Any], str]] = [
    # (validator, accepted, refused, what the message says is wanted)
    (integer(0, 100), [0, 3, 100], [-1, 101, 2.5, "3", True, None], "an integer from 0 to 100"),
    (integer(1), [1, 10**9], [0, -1, 10.0, False], "an integer >= 1"),
    (
        seconds(0, 3600, above=True),
        [0.05, 1, 3600],
        [0, -2, "2", True, float("nan"), float("inf"), 3601],
        "a number of seconds > 0 and <= 3600",
    ),
    (
        seconds(0.01, 60),
        [0.01, 0.5, 60],
        [0, 0.001, 61, "0.5", None],
        "a number of seconds from 0.01 to 60",
    ),
    (
        non_empty_string("a Celery queue"),
        ["jobs", " q "],
        ["", "   ", None, 7, b"q", ["q"]],
        "a non-empty string naming a Celery queue",
    ),
    (non_empty_string(), ["x"], [""], "a non-empty string"),
    (
        one_of("DEBUG", "INFO"),
        ["DEBUG", "INFO"],
        ["info", 20, None, ["INFO"]],
        "one of 'DEBUG', 'INFO'",
    ),
    (one_of(1, 2), [1, 2], [True, 1.0, "1"], "one of 1, 2"),
    (one_of(True), [True], [1, "True"], "one of True"),
    (
        dotted_path(),
        ["a.B", "pkg.mod.Name"],
        ["nodots", "", "a..B", "a.1b", None, 42],
        "a dotted path string such as 'package.module.Name'",
    ),
    (mapping(), [{}, {"executor": "x"}], [[], None, {1: "x"}, "x"], "a dict with string keys"),
    (
        string_list(),
        [[], ["--a"], ("--a", "--b")],
        ["--a", [1], None, {"a": 1}],
        "a list of strings",
    ),
]


@pytest.mark.parametrize(("validator", "accepted", "refused", "wanted"), CASES)
def test_validator_accepts_and_refuses(
    validator: Validator, accepted: list[Any], refused: list[Any], wanted: str
) -> None:
    assert validator.wanted == wanted
    assert [value for value in accepted if not validator.accepts(value)] == []
    assert [value for value in refused if validator.accepts(value)] == []


@pytest.mark.parametrize(("validator", "accepted", "refused", "wanted"), CASES)
def test_a_refused_value_is_an_error_naming_setting_value_and_wanted(
    validator: Validator, accepted: list[Any], refused: list[Any], wanted: str
) -> None:
    declaration = Setting("DJPROCESS_TEST_ONLY", accepted[0], lambda v: v, validator, "test.E001")
    for value in refused:
        with override_settings(DJPROCESS_TEST_ONLY=value):
            (message,) = declaration.errors()
        assert isinstance(message, Error)
        assert message.id == "test.E001"
        assert message.msg == f"DJPROCESS_TEST_ONLY must be {wanted}, got {value!r}."
        assert message.hint == f"Set DJPROCESS_TEST_ONLY = {accepted[0]!r}."
    for value in accepted:
        with override_settings(DJPROCESS_TEST_ONLY=value):
            assert declaration.errors() == []


def test_a_setting_reads_its_value_at_access_time_and_converts_it() -> None:
    declaration = Setting("DJPROCESS_TEST_ONLY", 2, float, seconds(0, 10), "test.E002", hint="Fix")
    assert declaration.is_set() is False
    assert declaration.raw() == 2
    assert declaration.get() == 2.0
    assert isinstance(declaration.get(), float)
    assert declaration.errors() == []
    with override_settings(DJPROCESS_TEST_ONLY=11):
        assert declaration.is_set() is True
        assert declaration.get() == 11.0
        assert [m.hint for m in declaration.errors()] == ["Fix"]


def test_without_a_validator_a_setting_has_no_check() -> None:
    declaration = Setting("DJPROCESS_TEST_ONLY", "x", str)
    with override_settings(DJPROCESS_TEST_ONLY=None):
        assert declaration.errors() == []
        assert declaration.get() == "None"


def test_a_validator_needs_a_check_id_and_the_other_way() -> None:
    with pytest.raises(ValueError, match="DJPROCESS_TEST_ONLY"):
        Setting("DJPROCESS_TEST_ONLY", 1, int, integer(0))
    with pytest.raises(ValueError, match="DJPROCESS_TEST_ONLY"):
        Setting("DJPROCESS_TEST_ONLY", 1, int, check_id="test.E003")


def test_declaring_twice_is_a_no_op_and_a_second_declaration_of_a_name_is_refused() -> None:
    before = declared()
    declare(Settings.KILL_TERM_RETRIES)
    assert declared() == before
    with pytest.raises(ValueError, match="DJPROCESS_KILL_TERM_RETRIES is already declared"):
        declare(Setting("DJPROCESS_KILL_TERM_RETRIES", 3, int))
    assert declared() == before


def test_every_declared_check_id_is_unique() -> None:
    ids = [found.check_id for found in declared() if found.check_id]
    assert len(ids) == len(set(ids))
