"""``djprocess._levels.clean_level``: the standard level name of whatever a line's level is."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from djprocess._levels import clean_level


@pytest.fixture
def custom_level() -> Iterator[None]:
    logging.addLevelName(25, "NOTICE")
    yield
    # logging has no public way to remove a level name; undo by hand.
    logging._levelToName.pop(25, None)
    logging._nameToLevel.pop("NOTICE", None)


@pytest.mark.parametrize(
    ("level", "name"),
    [
        ("INFO", "INFO"),
        ("info", "INFO"),
        (" warning ", "WARNING"),
        ("WARN", "WARNING"),
        ("FATAL", "CRITICAL"),
        (logging.ERROR, "ERROR"),
        (35, "WARNING"),
        (1, "DEBUG"),
        (0, "DEBUG"),
        (-5, "DEBUG"),
        (10_000, "CRITICAL"),
    ],
)
def test_levels(level: object, name: str) -> None:
    assert clean_level(level) == name


def test_registered_custom_level(custom_level: None) -> None:
    assert clean_level("notice") == "INFO"


@pytest.mark.parametrize("level", ["VERBOSE", "", None, True, 2.5, object()])
def test_unknown_levels(level: object) -> None:
    assert clean_level(level) is None
