"""One typed dataclass config per stage: YAML file, then `--field value` overrides.

Every field carries its help text in `field(metadata={"help": ...})`. Unknown keys, wrong types
and out-of-range values (checked by each config's own `__post_init__`, so no config object holds
invalid values, however it was made) raise `ConfigError` with a one-line message naming the key and where it
came from; the CLI turns that into exit code 2. The resolved config is written beside each run.

`require(cfg, lr="> 0", top_p="(0, 1]", seed=SEED)` is the one range check every stage config
uses: the rule is written as the message shows it ("lr must be > 0, got -1.0"), and a float field
must also be finite (no inf or nan gets through any rule).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from r1lab.errors import UserError

C = TypeVar("C")
SEED = "[0, 2**63)"  # every seed: what torch.manual_seed and a 64-bit generator take, with room for seed + 1
DEVICE = re.compile(r"cpu|cuda(:\d+)?")
_RULE = re.compile(r"(>=|>|<=|<) (\S+)|([\[(])(\S+), (\S+)([\])])|finite")


class ConfigError(UserError, ValueError):
    """A user error in a config file or override: printed as one line, exit code 2."""


def help_field(default: Any, help: str) -> Any:
    return dataclasses.field(default=default, metadata={"help": help})


def _number(text: str) -> float:
    base, _, power = text.partition("**")
    return int(base) ** int(power) if power else float(text)


def within(value: float, rule: str) -> bool:
    """`value` satisfies `rule`: "> 0", ">= 1", "<= 2", "[0, 1]", "(0, 1]", "[0, 2**63)" or "finite"."""
    m = _RULE.fullmatch(rule)
    if m is None:
        raise ValueError(f"bad range rule {rule!r}")
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if rule == "finite":
        return True
    if m.group(1):
        op, bound = m.group(1), _number(m.group(2))
        return {">=": value >= bound, ">": value > bound, "<=": value <= bound, "<": value < bound}[op]
    lo, hi = _number(m.group(4)), _number(m.group(5))
    return (lo <= value if m.group(3) == "[" else lo < value) and (value <= hi if m.group(6) == "]" else value < hi)


def require(cfg: Any, **rules: str) -> None:
    """ConfigError naming the first field of `cfg` outside its rule (fields left at None are skipped)."""
    for name, rule in rules.items():
        value = getattr(cfg, name)
        if value is None or (not isinstance(value, bool) and isinstance(value, (int, float)) and within(value, rule)):
            continue
        shown = "finite" if rule == "finite" else ("in " + rule if rule[0] in "[(" else rule)
        finite = "finite and " if isinstance(value, float) and not math.isfinite(value) and rule != "finite" else ""
        raise ConfigError(f"{name} must be {finite}{shown}, got {value!r}")


def check(rules: list[tuple[bool, str]]) -> None:
    """ConfigError with the message of the first rule that does not hold (for checks `require` cannot say)."""
    for ok, message in rules:
        if not ok:
            raise ConfigError(message)


def _coerce(name: str, value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(name, value, args[0], where)
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            raise ValueError
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if tp is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise ValueError
            return str(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where}: {name} must be {getattr(tp, '__name__', tp)}, got {value!r}") from None
    return value


def build(cls: type[C], values: dict[str, Any], where: str = "config") -> C:
    """Instantiate `cls` from a flat dict, rejecting unknown keys and coercing types."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} for {cls.__name__} "
                          f"(known: {', '.join(fields)})")
    kwargs = {k: _coerce(k, v, hints[k], where) for k, v in values.items()}
    return cls(**kwargs)  # each stage config validates itself in __post_init__


def parse_overrides(args: list[str]) -> dict[str, str]:
    """['--lr', '1e-3', '--max-steps=5'] -> {'lr': '1e-3', 'max_steps': '5'}."""
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--") or len(arg) < 3:
            raise ConfigError(f"unexpected argument {arg!r} (config overrides look like --field value)")
        key, eq, val = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("--"):
                raise ConfigError(f"--{key} needs a value")
            i += 1
            val = args[i]
        out[key.replace("-", "_")] = val
        i += 1
    return out


def load(cls: type[C], path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> C:
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError, ValueError) as e:  # ValueError: NUL and other bytes YAML refuses
            raise ConfigError(f"{p}: not valid YAML ({(str(e).splitlines() or [type(e).__name__])[0]})") from None
        except RecursionError:
            raise ConfigError(f"{p}: not valid YAML (nested too deeply)") from None
        except OSError as e:
            raise ConfigError(f"{p}: cannot read ({e.strerror or e})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping of config keys")
        odd = next((k for k in loaded if not isinstance(k, str)), None)
        if odd is not None or None in loaded:
            raise ConfigError(f"{p}: config keys must be strings, got {odd!r}")
        values.update(loaded)
        build(cls, values, where=str(p))  # report file errors against the file
    values.update(overrides or {})
    return build(cls, values, where="command line" if overrides else str(path))


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def save(cfg: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


def describe(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) for every field: for --help and the README."""
    hints = typing.get_type_hints(cls)
    return [(f.name, getattr(hints[f.name], "__name__", str(hints[f.name])), f.default,
             f.metadata.get("help", "")) for f in dataclasses.fields(cls)]


def fields_markdown(cls: type) -> str:
    """The README's table of a config's fields (a test keeps the README in sync with this)."""
    rows = ["| field | type | default | what |", "|---|---|---|---|"]
    for name, tp, default, help in describe(cls):
        rows.append(f"| `{name}` | {tp} | `{default!r}` | {help.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)
