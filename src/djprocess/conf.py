"""The ``DJPROCESS_*`` settings, each declared once as data, read at access time.

A :class:`Setting` names a setting, gives its default, how its value is converted when
read, and how it is validated: a :class:`Validator`, the system check id it reports under,
the hint. :func:`djprocess.checks.check_settings` validates every declared setting from
these declarations; nothing else re-reads or re-validates them.

The core declares the settings it reads (:class:`Settings`, reached as
``djprocess.conf.settings.<NAME>``). A backend package declares its own in its ``conf``
module with :func:`declare`, and names that module in the ``djprocess.settings`` entry-point
group of its distribution, so the checks see its settings even when it is not in
``INSTALLED_APPS`` (importing the module declares them too). The core names no backend's
setting.

Reading at access time (never at import) keeps ``override_settings`` working.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, overload

from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error

from djprocess._levels import LEVELS
from djprocess.validators import is_integer

__all__ = [
    "DEFAULTS",
    "ENTRY_POINT_GROUP",
    "Requirement",
    "Setting",
    "Settings",
    "Validator",
    "constructs_backend",
    "declare",
    "declared",
    "dotted_path",
    "integer",
    "mapping",
    "non_empty_string",
    "one_of",
    "seconds",
    "settings",
    "settings_checks",
    "string_list",
]

#: The entry-point group naming the modules that declare settings (``name = "module"``).
ENTRY_POINT_GROUP = "djprocess.settings"


# -- validators ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Validator:
    """What a setting's value must be: ``accepts(value)`` says whether it is, and
    ``wanted`` says what is wanted in words, completing "``NAME`` must be ...", e.g.
    ``"an integer from 0 to 100"``."""

    wanted: str
    accepts: Callable[[Any], bool]


def _is_number(value: Any) -> bool:
    return is_integer(value) or isinstance(value, float)


def integer(low: int, high: int | None = None) -> Validator:
    """An ``int`` (not a ``bool``) from ``low`` to ``high`` inclusive (no upper bound when
    ``high`` is ``None``)."""
    wanted = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    return Validator(
        wanted, lambda value: is_integer(value) and low <= value and (high is None or value <= high)
    )


def seconds(low: float, high: float, *, above: bool = False) -> Validator:
    """A number of seconds (``int`` or ``float``, not ``bool``, not NaN) from ``low`` to
    ``high`` inclusive; with ``above=True``, strictly greater than ``low``."""
    if above:
        wanted = f"a number of seconds > {low:g} and <= {high:g}"
    else:
        wanted = f"a number of seconds from {low:g} to {high:g}"

    def accepts(value: Any) -> bool:
        if not _is_number(value) or math.isnan(value):
            return False
        return bool((low < value if above else low <= value) and value <= high)

    return Validator(wanted, accepts)


def non_empty_string(naming: str = "") -> Validator:
    """A ``str`` with something besides whitespace; ``naming`` completes the wording, e.g.
    ``"a Celery queue"`` gives "a non-empty string naming a Celery queue"."""
    wanted = f"a non-empty string naming {naming}" if naming else "a non-empty string"
    return Validator(wanted, lambda value: isinstance(value, str) and bool(value.strip()))


def one_of(*choices: Any) -> Validator:
    """Exactly one of ``choices`` (compared with ``==``, so ``"info"`` is not ``"INFO"``)."""

    def accepts(value: Any) -> bool:
        # A bool is not taken for the int it equals (True == 1), nor an int for a bool.
        return any(
            isinstance(value, type(choice))
            and isinstance(value, bool) == isinstance(choice, bool)
            and value == choice
            for choice in choices
        )

    return Validator("one of " + ", ".join(repr(choice) for choice in choices), accepts)


def dotted_path() -> Validator:
    """A ``str`` of the form ``package.module.Name`` (whether it imports is not checked)."""

    def accepts(value: Any) -> bool:
        if not isinstance(value, str) or "." not in value:
            return False
        return all(part.isidentifier() for part in value.split("."))

    return Validator("a dotted path string such as 'package.module.Name'", accepts)


def mapping() -> Validator:
    """A ``dict`` whose keys are all ``str`` (keyword arguments)."""
    return Validator(
        "a dict with string keys",
        lambda value: isinstance(value, dict) and all(isinstance(key, str) for key in value),
    )


def string_list() -> Validator:
    """A ``list`` or ``tuple`` of ``str``."""
    return Validator(
        "a list of strings",
        lambda value: isinstance(value, list | tuple) and all(isinstance(v, str) for v in value),
    )


# -- declarations ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """What a setting needs of the configured worker backend to be read at all.

    ``capability`` is a boolean attribute of the backend instance (``"supports_executor"``,
    ``"supports_sandbox"``); when it is false and the setting is set, check
    ``djprocess.E018`` reports "``NAME`` set, but ``DJPROCESS_WORKER_BACKEND`` ... ``problem``"
    with ``hint``.
    """

    capability: str
    problem: str
    hint: str


@dataclass(frozen=True, eq=False)
class Setting[T]:
    """One ``DJPROCESS_*`` setting: its ``name``, its ``default``, and ``convert``, which
    turns the configured value into a ``T`` when it is read (:meth:`get`).

    ``validator`` and ``check_id`` make its system check: a value the validator refuses
    gives an :class:`~django.core.checks.Error` with that id, whose message names the
    setting, what is wanted and the value (``repr``), and whose hint is ``hint`` (default:
    ``Set NAME = <default>.``). Without a validator the setting has no check of its own.
    ``requires``: what the backend must support for the setting to be read (``E018``).
    ``constructs_backend``: a backend instance is made from the setting's value, so
    :func:`djprocess.backends.get_backend` makes its instances again when it changes
    (``override_settings``); settings read at each use leave it ``False``.

    As a class attribute it is a descriptor: ``instance.NAME`` reads the value, and
    ``Class.NAME`` is the declaration itself.
    """

    name: str
    default: T
    convert: Callable[[Any], T]
    validator: Validator | None = None
    check_id: str | None = None
    hint: str | None = None
    requires: tuple[Requirement, ...] = ()
    constructs_backend: bool = False

    def __post_init__(self) -> None:
        if (self.validator is None) != (self.check_id is None):
            raise ValueError(f"{self.name}: a validator needs a check id, and the other way")

    def raw(self) -> Any:
        """The configured value as it is (the default when unset), not converted."""
        return getattr(django_settings, self.name, self.default)

    def get(self) -> T:
        """The value, converted; read from ``django.conf.settings`` now."""
        return self.convert(self.raw())

    def is_set(self) -> bool:
        """Whether the settings module (or an ``override_settings``) sets it."""
        return hasattr(django_settings, self.name)

    def errors(self) -> list[CheckMessage]:
        """The setting's check: ``[]``, or one :class:`~django.core.checks.Error`."""
        if self.validator is None or self.validator.accepts(value := self.raw()):
            return []
        return [
            Error(
                f"{self.name} must be {self.validator.wanted}, got {value!r}.",
                hint=self.hint or f"Set {self.name} = {self.default!r}.",
                id=self.check_id,
            )
        ]

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Setting[T]: ...

    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> Any:
        return self if instance is None else self.get()


#: Check functions that look at several settings at once, e.g. two queues that must differ.
SettingsCheck = Callable[[], list[CheckMessage]]

_declared: dict[str, Setting[Any]] = {}
_checks: list[SettingsCheck] = []
_plugins_loaded = False


def declare(*declarations: Setting[Any], checks: Sequence[SettingsCheck] = ()) -> None:
    """Add ``declarations`` (and ``checks``, run after the settings' own checks) to what
    :func:`djprocess.checks.check_settings` validates. Declaring the same object again does
    nothing; another declaration of a name already declared raises :class:`ValueError`."""
    for declaration in declarations:
        known = _declared.setdefault(declaration.name, declaration)
        if known is not declaration:
            raise ValueError(f"{declaration.name} is already declared")
    _checks.extend(check for check in checks if check not in _checks)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            point.load()  # the module declares its settings when imported
        except ImportError:
            # A package that cannot be imported reads none of its settings: nothing to check.
            continue


def declared() -> list[Setting[Any]]:
    """Every declared setting: the core's, then those of the modules of the
    ``djprocess.settings`` entry points (loaded on the first call) and of any module that
    called :func:`declare`, in the order they were declared."""
    _load_plugins()
    return list(_declared.values())


def constructs_backend(name: str) -> bool:
    """Whether ``name`` is a declared setting that backend instances are made from
    (:attr:`Setting.constructs_backend`). Only settings declared so far count: a backend
    made from a setting has imported the module that declares it."""
    known = _declared.get(name)
    return known is not None and known.constructs_backend


def settings_checks() -> list[SettingsCheck]:
    """The checks over several settings given to :func:`declare`."""
    _load_plugins()
    return list(_checks)


class _Defaults(Mapping[str, Any]):
    """A live ``{name: default}`` view of :func:`declared`."""

    def __getitem__(self, name: str) -> Any:
        for declaration in declared():
            if declaration.name == name:
                return declaration.default
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter([declaration.name for declaration in declared()])

    def __len__(self) -> int:
        return len(declared())


#: ``{name: default}`` of every declared setting (the backends' included); read-only.
DEFAULTS: Mapping[str, Any] = _Defaults()


# -- the core's settings -----------------------------------------------------------------------


def _options(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class Settings:
    """Typed, lazily read view of the core's ``DJPROCESS_*`` settings; each attribute is
    its :class:`Setting` (``Settings.KILL_TERM_RETRIES`` is the declaration,
    ``settings.KILL_TERM_RETRIES`` the value)."""

    #: How many SIGTERMs are tried before SIGKILL (``DJPROCESS_KILL_TERM_RETRIES``).
    KILL_TERM_RETRIES = Setting(
        "DJPROCESS_KILL_TERM_RETRIES",
        3,
        int,
        integer(0, 100),
        "djprocess.E004",
        hint="Set DJPROCESS_KILL_TERM_RETRIES = 3 (0 sends SIGKILL at once).",
    )
    #: Seconds to wait after each SIGTERM (``DJPROCESS_KILL_TERM_WAIT_SECONDS``).
    KILL_TERM_WAIT_SECONDS: Setting[float] = Setting(
        "DJPROCESS_KILL_TERM_WAIT_SECONDS", 2, float, seconds(0, 3600, above=True), "djprocess.E005"
    )
    #: Dotted path of the worker backend class (``DJPROCESS_WORKER_BACKEND``); checked, with
    #: its options, by ``djprocess.E006``, ``E007`` and ``E017`` (it has to be imported).
    WORKER_BACKEND = Setting(
        "DJPROCESS_WORKER_BACKEND", "djprocess_celery.backend.CeleryWorkerBackend", str
    )
    #: Keyword arguments the worker backend class is made with
    #: (``DJPROCESS_WORKER_BACKEND_OPTIONS``); anything but a dict reads as ``{}``.
    WORKER_BACKEND_OPTIONS: Setting[dict[str, Any]] = Setting(
        "DJPROCESS_WORKER_BACKEND_OPTIONS", {}, _options, constructs_backend=True
    )
    #: Largest ``per_page`` accepted by ``paginate_logs()`` (``DJPROCESS_LOG_MAX_PER_PAGE``).
    LOG_MAX_PER_PAGE = Setting(
        "DJPROCESS_LOG_MAX_PER_PAGE", 1000, int, integer(1), "djprocess.E009"
    )
    #: Characters of a log message kept; the rest is cut and replaced by a marker
    #: (``DJPROCESS_LOG_MAX_MESSAGE_LENGTH``).
    LOG_MAX_MESSAGE_LENGTH = Setting(
        "DJPROCESS_LOG_MAX_MESSAGE_LENGTH", 100_000, int, integer(1), "djprocess.E010"
    )
    #: Lowest level name of the :mod:`logging` records captured into the running process's
    #: log (``DJPROCESS_LOG_CAPTURE_LEVEL``).
    LOG_CAPTURE_LEVEL = Setting(
        "DJPROCESS_LOG_CAPTURE_LEVEL",
        "INFO",
        str,
        one_of(*LEVELS),
        "djprocess.E011",
        hint='Set DJPROCESS_LOG_CAPTURE_LEVEL = "INFO".',
    )
    #: Seconds between two reads of a running process's status by the process that
    #: supervises its run: how soon a ``cancel()`` or a deleted row is noticed
    #: (``DJPROCESS_STATUS_POLL_SECONDS``).
    STATUS_POLL_SECONDS = Setting(
        "DJPROCESS_STATUS_POLL_SECONDS", 0.5, float, seconds(0.01, 60), "djprocess.E012"
    )
    #: Seconds between two heartbeats written for a running process; after
    #: :attr:`HEARTBEAT_STALE_SECONDS` without one the supervisor checks whether its worker
    #: is lost (``DJPROCESS_HEARTBEAT_SECONDS``).
    HEARTBEAT_SECONDS = Setting(
        "DJPROCESS_HEARTBEAT_SECONDS", 5.0, float, seconds(0.1, 600), "djprocess.E013"
    )
    #: Seconds between two sweeps of the supervisor over the processes that are due a check
    #: (``DJPROCESS_SWEEP_SECONDS``).
    SWEEP_SECONDS = Setting(
        "DJPROCESS_SWEEP_SECONDS", 1.0, float, seconds(0.05, 600), "djprocess.E014"
    )
    #: Seconds a dispatched process may stay ``pending`` (queued, never claimed) before the
    #: supervisor fails it (``DJPROCESS_QUEUE_TIMEOUT_SECONDS``).
    QUEUE_TIMEOUT_SECONDS: Setting[float] = Setting(
        "DJPROCESS_QUEUE_TIMEOUT_SECONDS", 86_400, float, seconds(1, 365 * 86_400), "djprocess.E015"
    )

    @property
    def HEARTBEAT_STALE_SECONDS(self) -> float:
        """Seconds without a heartbeat after which a run counts as possibly lost:
        six heartbeats (derived from ``DJPROCESS_HEARTBEAT_SECONDS``)."""
        return 6 * self.HEARTBEAT_SECONDS

    @property
    def STOP_BUDGET_SECONDS(self) -> float:
        """Seconds a stop may take before the supervisor steps in: retries x wait plus
        a grace of 10 s (derived from the two ``DJPROCESS_KILL_TERM_*`` settings)."""
        return self.KILL_TERM_RETRIES * self.KILL_TERM_WAIT_SECONDS + 10.0


declare(*(value for value in vars(Settings).values() if isinstance(value, Setting)))

settings = Settings()
