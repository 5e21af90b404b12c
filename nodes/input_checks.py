"""Every node's inputs checked against its own schema before it runs, in one place (the registry applies it).

The host validates a FLOAT widget's range with comparisons that NaN passes, and (v0.3.64) does not check a V3
combo's value against its options, so a NaN strength or a combo value from another pack version would reach the
maths and come back as a black image or a raw KeyError. Here: every Float input must be a finite number, every
Combo input whose options are fixed must hold one of them; the error names the node, the input and the fix.
"""
from __future__ import annotations

import functools
import inspect
import math

from comfy_api.latest import io

# Combos whose node gives a more specific message itself: the file lists of the loaders (a missing file: where
# to put it) and Degrade Image's degradations (the list of what each one does).
OWN_MESSAGES = frozenset({"prompt_name", "official_file", "degradation", "degradation_2", "degradation_3"})


def input_problems(schema, values: dict) -> list[str]:
    """What is wrong with `values` (input id -> value) under `schema`, one sentence each."""
    problems = []
    for spec in schema.inputs:
        if spec.id not in values or values[spec.id] is None:
            continue
        value = values[spec.id]
        if isinstance(spec, io.Float.Input):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                problems.append(f"{spec.id} is {value!r}; it must be a finite number"
                                f"{_range(spec)} (the default is {spec.default})")
        elif isinstance(spec, io.Combo.Input) and spec.id not in OWN_MESSAGES and spec.options:
            if value not in spec.options:
                problems.append(f"{spec.id} must be one of {', '.join(map(str, spec.options))}, got {value!r} (a "
                                "workflow saved by another version may hold an old value); pick one from the list")
    return problems


def _range(spec) -> str:
    if spec.min is not None and spec.max is not None:
        return f" from {spec.min} to {spec.max}"
    return ""


def guard_inputs(cls: type[io.ComfyNode]) -> type[io.ComfyNode]:
    """Wrap `cls.execute` so its inputs are checked first (idempotent). Returns the class."""
    original = cls.__dict__["execute"].__func__
    if getattr(original, "_unlock_guarded", False):
        return cls
    signature = inspect.signature(original)

    @functools.wraps(original)
    def execute(node_cls, *args, **kwargs):
        bound = signature.bind(node_cls, *args, **kwargs)
        schema = node_cls.define_schema()
        problems = input_problems(schema, {k: v for k, v in bound.arguments.items() if k != "cls"})
        if problems:
            raise ValueError(f"{schema.display_name}: " + "; ".join(problems) + ".")
        return original(node_cls, *args, **kwargs)

    execute._unlock_guarded = True
    cls.execute = classmethod(execute)
    return cls
