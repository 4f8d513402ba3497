"""Turn whatever a benchmark hands us into strict JSON, without ever failing on a value.

Rules (stored results depend on them, so they are part of the schema):
- numpy / torch scalars -> Python numbers; numpy arrays and torch tensors -> (nested) lists;
- torch.dtype -> its short name ("bfloat16"); torch.device, pathlib.Path -> str;
- dataclasses -> dicts; Enum -> its value; datetime/date -> ISO 8601 string; sets/tuples -> lists;
- NaN, +inf and -inf -> null (JSON has no such numbers; a missing value and a non-finite one read alike);
- dict keys -> str; anything else -> str(value).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import math
import os
import sys
from typing import Any

NON_FINITE_AS = None  # what NaN / inf become in stored JSON (see the module docstring)


def to_jsonable(value: Any) -> Any:
    """A structure of dict/list/str/int/float/bool/None that json.dumps(allow_nan=False) accepts."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)  # IntEnum and friends -> plain int
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else NON_FINITE_AS
    if isinstance(value, dict):
        return {_key(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((to_jsonable(v) for v in value), key=repr)
    if isinstance(value, os.PathLike):
        return os.fsdecode(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.dtype):
            return str(value).removeprefix("torch.")
        if isinstance(value, torch.device):
            return str(value)
        if isinstance(value, torch.Tensor):
            return to_jsonable(value.detach().cpu().tolist())
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.generic):
            return to_jsonable(value.item())
        if isinstance(value, numpy.ndarray):
            return to_jsonable(value.tolist())
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _key(key: Any) -> str:
    key = to_jsonable(key)
    return key if isinstance(key, str) else json.dumps(key)


def dumps(value: Any, **kwargs) -> str:
    """Strict JSON text of `value` under the rules above."""
    return json.dumps(to_jsonable(value), allow_nan=False, **kwargs)
