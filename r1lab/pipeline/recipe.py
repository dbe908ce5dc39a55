"""A pipeline recipe: a YAML file of shared settings and an ordered list of stages, validated whole
before any compute.

    model: tiny              # the base model ("base" in a stage's model)
    task: arithmetic
    seed: 0
    eval_problems: 64        # the table's held-out evaluation, the same for every stage
    stages:
      - {name: r1-zero, type: rl, model: base, max_steps: 120}
      - {name: cold-start-data, type: sample, model: r1-zero, rewrite: readable, format: readable}
      - {name: cold-start, type: sft, model: base, data: [cold-start-data], template: r1_zero}
      ...

Stage types and the config each one's other keys build (unknown keys are rejected as everywhere):
`base` (`r1lab base`'s BaseConfig: continued pretraining of the recipe's model, its tokenizer kept),
`rl` (`r1lab train`'s GRPOConfig), `sft` (SFTConfig), `sample` (SampleConfig, rejection sampling),
`nonreasoning` (NonReasoningConfig, the miniature's non-reasoning data). A stage inherits the
recipe's `task`, `verifier`, `seed`, `threads`, `device` and `dtype` where its config has the
field and the stage does not set it.

Inputs: `model` is "base", the name of an EARLIER base, rl or sft stage (its model), or a model
directory / hub id. "base" is the recipe's `model`, or, when the recipe opens with a `base` stage
(at most one, and only first), that stage's model: the base every later stage starts from. A
`base` stage's own `model` (default: the recipe's) is what it continues pretraining from
(BaseConfig.init_from). `data` (sft) is a list of earlier sample or nonreasoning stages and
chat-format JSONL files (read and validated now, naming file and line). Everything a stage would
fail on before computing is checked here: an unknown stage type, a missing or duplicate name, a
model or data input that is missing or not produced by an earlier stage, a malformed JSONL file,
a bad config value. Each is one line naming the recipe and the stage.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from r1lab.config import ConfigError, build, help_field
from r1lab.errors import UserError
from r1lab.models.base_config import BaseConfig
from r1lab.models.io import resolve
from r1lab.pipeline.nonreasoning import NonReasoningConfig
from r1lab.pipeline.sample import SampleConfig
from r1lab.tasks import get_task
from r1lab.tasks.chatdata import read_chat
from r1lab.train.config import GRPOConfig
from r1lab.train.sft import SFTConfig

STAGE_TYPES = {"base": BaseConfig, "rl": GRPOConfig, "sft": SFTConfig, "sample": SampleConfig,
               "nonreasoning": NonReasoningConfig}
MAKES_MODEL = ("base", "rl", "sft")
MAKES_DATA = ("sample", "nonreasoning")
INHERITED = ("task", "verifier", "seed", "threads", "device", "dtype")
BASE = "base"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass
class PipelineConfig:
    model: str = help_field("tiny", "the base model: 'tiny', a local HF model directory, or a hub id")
    task: str = help_field("arithmetic", "built-in task or JSONL file of question/answer rows (stages inherit it)")
    verifier: str = help_field("", "answer checker (default: the task's; stages inherit it)")
    seed: int = help_field(0, "seed (stages inherit it) and of the held-out evaluation")
    output_dir: str = help_field("", "directory of the stages' run directories, pipeline.json and pipeline.md "
                                     "(default: runs/<recipe name>)")
    eval_problems: int = help_field(64, "held-out test problems every stage is evaluated on")
    eval_samples: int = help_field(4, "k: samples per problem for pass@1")
    eval_max_new_tokens: int = help_field(128, "completion length limit of the evaluation")
    eval_temperature: float = help_field(0.6, "evaluation temperature")
    eval_top_p: float = help_field(0.95, "evaluation top-p")
    reference_stage: str = help_field("", "the stage later rows are compared with (R1-Zero's; '' = none)")
    threads: int = help_field(0, "torch CPU threads (0 = one per core; stages inherit it)")
    device: str = help_field("cpu", "torch device: cpu | cuda (stages inherit it)")
    dtype: str = help_field("float32", "model dtype: float32 | bfloat16 (stages inherit it)")

    def __post_init__(self) -> None:
        if self.eval_problems < 1 or self.eval_samples < 1 or self.eval_max_new_tokens < 1:
            raise ConfigError("eval_problems, eval_samples and eval_max_new_tokens must be >= 1")


@dataclass
class Stage:
    name: str
    type: str
    spec: dict  # the stage as the recipe wrote it (compared on a re-run)
    model: str | None  # "base", an earlier stage's name, or a model path / hub id
    data: list[str]  # earlier stages' names and JSONL files
    fields: dict  # the rest: the stage config's own keys

    def config(self, pipe: PipelineConfig, out: Path, model: str | None, data: list[str]):
        """The stage's config, its inputs resolved to paths."""
        cls = STAGE_TYPES[self.type]
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: getattr(pipe, k) for k in INHERITED if k in names}
        values.update(self.fields, output_dir=str(out / self.name))
        if model is not None:
            values["init_from" if self.type == "base" else "model"] = model
        if self.type == "base":
            values["output_dir"] = str(out / self.name / "model")
        if self.type == "sft":
            values["data"] = ",".join(data)
        where = f"stage {self.name!r} ({self.type})"
        try:
            return build(cls, values, where=where)
        except ConfigError as e:  # a value check of the config's own names no stage: add it
            raise ConfigError(str(e) if str(e).startswith(where) else f"{where}: {e}") from None


@dataclass
class Recipe:
    path: Path
    config: PipelineConfig
    stages: list[Stage]
    raw: dict  # the top-level settings as written (compared on a re-run)

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir or Path("runs") / self.path.stem)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def base_stage(self) -> Stage | None:
        """The recipe's base stage (its first, if of type base): what "base" means after it."""
        return self.stages[0] if self.stages[0].type == "base" else None


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> Recipe:
    """Read and validate a recipe (see the module header); every problem is one `UserError` line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"recipe not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("stages"), list) or not raw["stages"]:
        raise UserError(f"{path}: a recipe is a mapping with a non-empty 'stages' list")
    settings = {k: v for k, v in raw.items() if k != "stages"}
    pipe = build(PipelineConfig, {**settings, **(overrides or {})}, where=str(path))
    stages = [_stage(path, i, s) for i, s in enumerate(raw["stages"], start=1)]
    recipe = Recipe(path, pipe, stages, settings)
    _check(recipe)
    return recipe


def _stage(path: Path, i: int, spec) -> Stage:
    if not isinstance(spec, dict):
        raise UserError(f"{path}: stage {i} must be a mapping with a name and a type")
    name, kind = spec.get("name"), spec.get("type")
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == BASE:
        raise UserError(f"{path}: stage {i} needs a name of letters, digits, '-', '_' or '.' (not {BASE!r}), "
                        f"got {name!r}")
    if kind not in STAGE_TYPES:
        raise UserError(f"{path}: stage {i} ({name}): unknown stage type {kind!r}; known: {', '.join(STAGE_TYPES)}")
    fields = {k: v for k, v in spec.items() if k not in ("name", "type", "model", "data")}
    data = spec.get("data", [])
    data = [d.strip() for d in data.split(",") if d.strip()] if isinstance(data, str) else data
    if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
        raise UserError(f"{path}: stage {i} ({name}): data must be a list of stage names and JSONL files")
    if kind == "sft" and not data:
        raise UserError(f"{path}: stage {i} ({name}): an sft stage needs data (earlier sample stages or JSONL files)")
    if kind != "sft" and data:
        raise UserError(f"{path}: stage {i} ({name}): only sft stages take data")
    model = spec.get("model", BASE if kind in ("base", "rl", "sft", "sample") else None)
    if kind == "nonreasoning" and model is not None:
        raise UserError(f"{path}: stage {i} ({name}): a nonreasoning stage takes no model")
    return Stage(name, kind, dict(spec), None if model is None else str(model), list(data), fields)


def _check(recipe: Recipe) -> None:
    """Names unique, inputs made by earlier stages or present on disk, every stage's config valid."""
    where, seen = recipe.path, {}
    try:
        get_task(recipe.config.task, recipe.config.verifier)
    except KeyError as e:
        raise UserError(f"{where}: {e.args[0]}") from None
    for i, stage in enumerate(recipe.stages):
        if stage.name in seen:
            raise UserError(f"{where}: two stages are named {stage.name!r}")
        if stage.type == "base" and i > 0:
            raise UserError(f"{where}: stage {stage.name!r}: a base stage must be the first stage (it makes the "
                            "model that 'base' means for the stages after it)")
        if stage.model is not None and stage.model != BASE:
            _check_model(where, stage, seen)
        for d in stage.data:
            _check_data(where, stage, d, seen)
        try:  # the stage's own config, with placeholder inputs: unknown keys, bad values
            stage.config(recipe.config, recipe.output_dir, None if stage.model is None else "tiny",
                         ["inputs.jsonl"])
        except ConfigError as e:
            raise UserError(f"{where}: {e}") from None
        seen[stage.name] = stage.type
    if recipe.config.reference_stage and seen.get(recipe.config.reference_stage) not in MAKES_MODEL:
        raise UserError(f"{where}: reference_stage {recipe.config.reference_stage!r} is not a base, rl or sft stage")


def _check_model(where: Path, stage: Stage, seen: dict[str, str]) -> None:
    if stage.model in seen:
        if seen[stage.model] not in MAKES_MODEL:
            raise UserError(f"{where}: stage {stage.name!r}: model {stage.model!r} is a {seen[stage.model]} stage, "
                            "which makes data, not a model")
        return
    try:
        resolve(stage.model)
    except UserError as e:
        raise UserError(f"{where}: stage {stage.name!r}: model {stage.model!r} is not 'base', an earlier base, rl "
                        f"or sft stage, or a model ({e})") from None


def _check_data(where: Path, stage: Stage, d: str, seen: dict[str, str]) -> None:
    if d in seen:
        if seen[d] not in MAKES_DATA:
            raise UserError(f"{where}: stage {stage.name!r}: data {d!r} is an {seen[d]} stage, which makes a model")
        return
    if not d.endswith(".jsonl"):
        raise UserError(f"{where}: stage {stage.name!r}: data {d!r} is neither an earlier sample stage nor a .jsonl "
                        "file")
    if not Path(d).is_file():
        raise UserError(f"{where}: stage {stage.name!r}: data file {d} not found")
    read_chat(d)  # a malformed row is named (file:line) now, not after hours of earlier stages
