"""Property-based fuzzing of the config parser: any YAML text, any mapping, any override list gives
a valid config or a `UserError` (one line, exit 2 at the command line), never another exception."""

from __future__ import annotations

import dataclasses

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r1lab.config import load, parse_overrides
from r1lab.errors import UserError
from r1lab.eval.config import EvalConfig
from r1lab.models.base_config import BaseConfig
from r1lab.pipeline.ablate import AblateConfig
from r1lab.pipeline.distill_config import DistillConfig
from r1lab.serve.config import ChatConfig, ServeConfig
from r1lab.train.config import GRPOConfig

CONFIGS = [GRPOConfig, BaseConfig, AblateConfig, ServeConfig, ChatConfig, EvalConfig, DistillConfig]
FIELDS = sorted({f.name for cls in CONFIGS for f in dataclasses.fields(cls)})
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(), st.text(max_size=20),
                    st.sampled_from(["inf", "-inf", "nan", "1e400", "0", "-1", "2**64", "cuda", "bfloat16", "grpo"]))
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=5), SCALARS, max_size=2))
KEYS = st.one_of(st.sampled_from(FIELDS), st.text(max_size=10), st.integers(), st.none(), st.booleans())


def _valid_or_user_error(cls, path=None, overrides=None) -> None:
    try:
        cfg = load(cls, path, overrides)
    except UserError:
        return
    assert isinstance(cfg, cls)


@FUZZ
@given(cls=st.sampled_from(CONFIGS), text=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_any_yaml_text(tmp_path, cls, text):
    p = tmp_path / "c.yaml"
    p.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    _valid_or_user_error(cls, p)


@FUZZ
@given(cls=st.sampled_from(CONFIGS), mapping=st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_yaml_mapping(tmp_path, cls, mapping):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    _valid_or_user_error(cls, p)


ARGS = st.one_of(st.sampled_from([f"--{f.replace('_', '-')}" for f in FIELDS] + ["--", "-x", "--=", "--lr="]),
                 SCALARS.map(str), st.text(max_size=15))


@FUZZ
@given(cls=st.sampled_from(CONFIGS), args=st.lists(ARGS, max_size=8))
def test_any_override_list(cls, args):
    try:
        overrides = parse_overrides(args)
    except UserError:
        return
    _valid_or_user_error(cls, None, overrides)
