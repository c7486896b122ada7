"""``djprocess.backends.labels``: only installed, concrete BaseProcess models are resolved."""

from __future__ import annotations

import pytest

from djprocess.backends.labels import label_of, resolve
from djprocess.exceptions import UnknownProcessModel
from djprocess_example.models import ExampleProcess


def test_label_round_trips() -> None:
    assert label_of(ExampleProcess) == "djprocess_example.exampleprocess"
    assert resolve(label_of(ExampleProcess)) is ExampleProcess
    assert resolve("djprocess_example.ExampleProcess") is ExampleProcess


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("auth.user", "model 'auth.user' is not a BaseProcess subclass"),
        ("djprocess_example.exampleprocesslog", "is not a BaseProcess subclass"),
        ("contenttypes.contenttype", "is not a BaseProcess subclass"),
        ("no_such_app.process", "no installed model 'no_such_app.process'"),
        ("djprocess_example.removedprocess", "no installed model"),
        ("os.system", "no installed model 'os.system'"),
        ("djprocess.models.BaseProcess", "no installed model"),
        ("djprocess.baseprocess", "no installed model"),
        ("", "no installed model ''"),
        ("exampleprocess", "no installed model"),
    ],
)
def test_refuses_labels_that_are_not_installed_process_models(label: str, message: str) -> None:
    with pytest.raises(UnknownProcessModel, match=message):
        resolve(label)


@pytest.mark.parametrize("label", [None, 1, ["auth", "user"], {"app": "auth"}, b"auth.user"])
def test_refuses_non_string_labels(label: object) -> None:
    with pytest.raises(UnknownProcessModel, match="must be a string"):
        resolve(label)


def test_unknown_process_model_is_a_lookup_error() -> None:
    with pytest.raises(LookupError):
        resolve("auth.user")
