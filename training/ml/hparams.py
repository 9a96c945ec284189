"""Declarative hyper-parameter schemas: defaults, types and ranges, checked with clear messages."""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass
from typing import Any

DEVICES_HELP = "'auto', 'cpu', 'cuda' or 'cuda:N'"
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Param:
    """One hyper-parameter of a family's schema: its default, type and allowed values.

    `kind` is bool, int, float or str; `help` is the one-line description shown to users (units
    included) and quoted in range errors; `choices` lists the only accepted values; `low` / `high`
    are inclusive bounds unless `low_open` / `high_open`; `nullable` admits None (JSON null).
    """

    default: Any
    kind: type  # bool, int, float or str
    help: str
    choices: tuple | None = None
    low: float | None = None  # bounds; `low_open`/`high_open` make them strict
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    nullable: bool = False

    def check(self, name: str, value: Any) -> Any:
        """The value, coerced (an int where a float is expected), or ValueError saying what is wrong.

        `name` is used in the message only. ValueError on None when not nullable, a wrong type
        (a bool is never taken for an int or float), NaN, a value outside `choices`, or one
        outside the bounds.
        """
        if value is None:
            if self.nullable:
                return None
            raise ValueError(f"{name} may not be null ({self.help})")
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, not {value!r}")
            return value
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"{name} must be an integer, not {value!r}")
            value = int(value)
        elif self.kind is float:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} must be a number, not {value!r}")
            value = float(value)
            if value != value:  # NaN
                raise ValueError(f"{name} must be a number, not NaN")
        elif self.kind is str and not isinstance(value, str):
            raise ValueError(f"{name} must be a string, not {value!r}")
        if self.choices is not None and value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            raise ValueError(f"{name} must be one of {options}, not {value!r}")
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            raise ValueError(
                f"{name} must be {'>' if self.low_open else '>='} {self.low:g}, not {value!r} ({self.help})"
            )
        if self.high is not None and (value >= self.high if self.high_open else value > self.high):
            raise ValueError(
                f"{name} must be {'<' if self.high_open else '<='} {self.high:g}, not {value!r} ({self.help})"
            )
        return value


def probability(default: float, help: str) -> Param:
    """A float `Param` in [0, 1], both ends included (an augmentation's or mask's probability)."""
    return Param(default, float, help, low=0.0, high=1.0)


def apply_schema(family: str, schema: dict[str, Param], hparams: dict | None) -> dict:
    """Defaults overlaid with `hparams`, every value checked; unknown names are refused (typos would
    otherwise silently train with the default).

    Returns a new dict with exactly the names of `schema`, values coerced by `Param.check`.
    Raises ValueError naming `family` and the unknown names, or the first invalid value.
    """
    if hparams is not None and not isinstance(hparams, dict):
        raise ValueError(
            f'hyper-parameters are a JSON object of name: value (e.g. {{"C": 10}}), not {hparams!r}'
        )
    hparams = dict(hparams or {})
    unknown = sorted(set(hparams) - set(schema))
    if unknown:
        raise ValueError(
            f"unknown hyper-parameter(s) for family {family!r}: {', '.join(unknown)}; "
            f"known: {', '.join(sorted(schema))}"
        )
    return {name: spec.check(name, hparams.get(name, spec.default)) for name, spec in schema.items()}


def check_device_and_precision(device: str, precision: str) -> None:
    """Check the device string ('auto', 'cpu', 'cuda' or 'cuda:N') and precision ('fp32', 'bf16',
    'fp16'), and refuse mixed precision on 'cpu'; returns None or raises ValueError. Whether a GPU
    exists is not checked here ('auto' passes with any precision; `engine.train` checks again
    once the device is resolved)."""
    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise ValueError(f"device must be {DEVICES_HELP}, not {device!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if device == "cpu" and precision != "fp32":
        raise ValueError(
            f"precision {precision!r} needs a CUDA device: mixed precision is refused on the CPU "
            "(no speed-up there, and fp16 needs a GPU loss scaler); use precision 'fp32' on 'cpu'"
        )
