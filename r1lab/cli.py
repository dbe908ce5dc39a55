"""The `r1lab` command: one short function per subcommand (parse, call one entry point, print).

Config fields are passed as `--field value` (or `--field=value`; dashes and underscores are the
same), after an optional `--config FILE.yaml`. User errors print one line and exit with code 2.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings
from typing import Annotated

import click
import typer

from r1lab import config as C
from r1lab.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="r1lab: the DeepSeek-R1 recipe, from R1-Zero GRPO to evaluation.")
_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


def _fields_help(cls) -> str:
    rows = [f"  --{n.replace('_', '-')} {t} (default {d!r}): {h}" for n, t, d, h in C.describe(cls)]
    return "\n\nConfig fields:\n\n" + "\n\n".join(rows)


def _with_fields(config: str) -> type:
    """A command class whose `--help` lists the fields of `config` ("module:Class"), imported only
    when that help is asked for: some config modules pull in torch, seconds on every start."""
    class Command(typer.core.TyperCommand):
        def get_help(self, ctx):
            module, name = config.split(":")
            if "Config fields:" not in (self.help or ""):
                self.help = (self.help or "") + _fields_help(getattr(importlib.import_module(module), name))
            return super().get_help(ctx)
    return Command


def _config(cls, ctx: typer.Context, config_file: str | None):
    return C.load(cls, config_file, C.parse_overrides(list(ctx.args)))


def _new_or_resumed(cls, ctx: typer.Context, config_file: str | None, resume: str | None, safe=None):
    """The config of a new run (--config FILE and --field value), or with --resume RUN_DIR that run's
    own config.yaml plus the changes `safe` allows."""
    if not resume:
        return _config(cls, ctx, config_file)
    from r1lab.runs import resume_config
    if config_file:
        raise UserError("--resume takes the run's own config.yaml; pass changes as --field value")
    return resume_config(cls, resume, C.parse_overrides(list(ctx.args)), *([safe] if safe else []))


TRAIN_DOC = "R1-Zero: GRPO straight from a base model with accuracy + format rewards."


@app.command(context_settings=_EXTRA, help=TRAIN_DOC, cls=_with_fields("r1lab.train.config:GRPOConfig"))
def train(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file"),
          resume: str = typer.Option(None, "--resume", help="continue RUN_DIR from its newest complete checkpoint "
                                     "(only max_steps, log/save intervals, threads and report_to may change)")):
    from r1lab.train.config import GRPOConfig
    cfg = _new_or_resumed(GRPOConfig, ctx, config, resume)  # bad options fail before the trainer's imports
    from r1lab.train.run import run
    run(cfg, resume=bool(resume))


SFT_DOC = ("Supervised fine-tuning on chat-format JSONL (messages or prompt/completion rows): loss on the "
           "replies only, packed sequences, cosine decay to one tenth.")


@app.command(context_settings=_EXTRA, help=SFT_DOC, cls=_with_fields("r1lab.train.sft:SFTConfig"))
def sft(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file"),
        resume: str = typer.Option(None, "--resume", help="continue RUN_DIR from its newest complete checkpoint "
                                   "(only save_every, keep_checkpoints, threads and report_to may change)")):
    from r1lab.train.sft import SFT_SAFE_TO_CHANGE, SFTConfig, run_sft
    run_sft(_new_or_resumed(SFTConfig, ctx, config, resume, SFT_SAFE_TO_CHANGE), resume=bool(resume))


SAMPLE_DOC = ("Rejection sampling: n samples per question, filtered for correctness, format, language mixing, "
              "repetition, long paragraphs and duplicates; writes a chat-format data.jsonl with provenance.")


@app.command(context_settings=_EXTRA, help=SAMPLE_DOC, cls=_with_fields("r1lab.pipeline.sample:SampleConfig"))
def sample(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file"),
           resume: str = typer.Option(None, "--resume", help="finish OUTPUT_DIR after its last complete chunk "
                                      "(only threads may change)")):
    from r1lab.pipeline.sample import SAMPLE_SAFE_TO_CHANGE, SampleConfig, run_sample
    run_sample(_new_or_resumed(SampleConfig, ctx, config, resume, SAMPLE_SAFE_TO_CHANGE), resume=bool(resume))


@app.command(context_settings=_EXTRA,
             help="Run a DeepSeek-R1 pipeline recipe (R1-Zero, cold start, reasoning RL with the language reward, "
                  "rejection sampling + SFT, final RL): one run directory per stage, pipeline.json, and the "
                  "per-stage table in pipeline.md. Re-running the same command skips finished stages and resumes "
                  "an interrupted one. Top-level recipe keys can be overridden as --field value.")
def pipeline(ctx: typer.Context,
             recipe: str = typer.Argument("recipes/r1-tiny.yaml", help="recipe YAML (default: recipes/r1-tiny.yaml)"),
             output_dir: str = typer.Option(None, "--output-dir", help="where the stages go (default: the recipe's "
                                            "output_dir, else runs/<recipe name>)")):
    from r1lab.pipeline.recipe import load_recipe
    from r1lab.pipeline.run import run_pipeline
    overrides = C.parse_overrides(list(ctx.args))
    if output_dir:
        overrides["output_dir"] = output_dir
    run_pipeline(load_recipe(recipe, overrides))


DISTILL_DOC = ("Distil a teacher (a run, a model or an OpenAI-compatible endpoint) into a student: traces sampled "
               "and verified, SFT, teacher / student before / student after on the same held-out problems; "
               "--compare-rl also trains the student with R1-Zero GRPO at the same compute. Writes DIR/distill.md "
               "and distill.json; re-running skips finished parts.\n\n"
               "r1lab distill --teacher RUN_DIR|MODEL [--teacher-endpoint URL] --student MODEL [--compare-rl] "
               "--output-dir DIR")


@app.command(context_settings=_EXTRA, help=DISTILL_DOC,
             cls=_with_fields("r1lab.pipeline.distill_config:DistillConfig"))
def distill(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file"),
            compare_rl: bool = typer.Option(None, "--compare-rl/--no-compare-rl", show_default=False,
                                            help="also train the student with R1-Zero RL at matched compute")):
    from r1lab.pipeline.distill_config import DistillConfig
    overrides = C.parse_overrides(list(ctx.args))
    if compare_rl is not None:
        overrides["compare_rl"] = str(compare_rl)
    cfg = C.load(DistillConfig, config, overrides)  # bad options fail before torch is imported
    from r1lab.pipeline.distill import run_distill
    run_distill(cfg)


@app.command(help="Write report.html (self-contained, charts inlined) and report.md for one or more run "
                  "directories: accuracy strict and lenient, length by answer style and its decomposition, "
                  "reflection and aha moments, reward components, KL, entropy, before/after samples. "
                  "Several runs are overlaid.")
def report(run_dirs: Annotated[list[str], typer.Argument(metavar="RUN_DIR", help="run directories (of r1lab train)")],
           output: str = typer.Option(None, "--output", help="directory for report.html and report.md "
                                      "(default: the first run directory)")):
    from r1lab.report import write_report
    written = write_report(run_dirs, output)
    for w in written.warnings:
        print(f"warning: {w}", file=sys.stderr)
    typer.echo(f"report written to {written.html} (and {written.markdown.name})")


ABLATE_DOC = ("Compare the GRPO-family presets (--algo) on the built-in task with fixed compute and "
              "several seeds; writes OUTPUT_DIR/ablation.md.")


@app.command(context_settings=_EXTRA, help=ABLATE_DOC, cls=_with_fields("r1lab.pipeline.ablate:AblateConfig"))
def ablate(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file")):
    from r1lab.pipeline.ablate import AblateConfig
    from r1lab.pipeline.ablate import ablate as run_ablation
    run_ablation(_config(AblateConfig, ctx, config))


BASE_DOC = "Build the built-in tiny base model: synthetic corpus, BPE tokenizer, pretraining."


@app.command(context_settings=_EXTRA, help=BASE_DOC, cls=_with_fields("r1lab.models.base_config:BaseConfig"))
def base(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file")):
    from r1lab.models.base_config import BaseConfig
    cfg = _config(BaseConfig, ctx, config)  # bad options fail before torch and transformers are imported
    from r1lab.models.pretrain import pretrain
    out = pretrain(cfg)
    typer.echo(f"base model written to {out}")


@app.command(help="Grade a JSONL file of responses with a verifier (the same function as the RL reward).\n\n"
                  "Writes each row plus `correct` (true/false/null when unparseable) and `extracted`, "
                  "and prints the counts. For gsm8k the reference field holds the full answer text.")
def grade(file: str = typer.Argument(..., help="JSONL file, one response per line"),
          verifier: str = typer.Option(..., "--verifier", help="math, gsm8k, code, number or countdown"),
          response_field: str = typer.Option("response", "--response-field", help="field holding the response"),
          reference_field: str = typer.Option("answer", "--reference-field", help="field holding the reference"),
          output: str = typer.Option(None, "--output", help="graded JSONL (default FILE.graded.jsonl)"),
          workers: int = typer.Option(0, "--workers", help="parallel sandboxes for code (0: all CPUs)")):
    from r1lab.eval.grade import grade_file
    summary, out = grade_file(file, verifier, response_field, reference_field, output, workers or None)
    typer.echo(summary.line())
    typer.echo(f"graded rows written to {out}")


EVAL_DOC = ("Evaluate a local model or an OpenAI-compatible endpoint on a benchmark the R1 paper's way "
            "(K samples per problem at T=0.6, top-p 0.95: pass@1 ± stderr, pass@k, cons@K).\n\n"
            "r1lab eval [--model M | --endpoint URL --model NAME] --benchmark NAME_OR_FILE [--samples K] "
            "[--limit N] --output-dir DIR [--resume]")


@app.command("eval", context_settings=_EXTRA, help=EVAL_DOC, cls=_with_fields("r1lab.eval.config:EvalConfig"))
def eval_(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file"),
          resume: bool = typer.Option(False, "--resume",
                                      help="continue DIR: keep its samples, generate the missing ones"),
          report_only: bool = typer.Option(False, "--report-only", help="print DIR/results.json as a table (also "
                                           "while an eval is running) and exit")):
    from r1lab.eval.run import eval_config, report, run_eval
    overrides = C.parse_overrides(list(ctx.args))
    if report_only:
        report(overrides.get("output_dir", ""))
        return
    run_eval(eval_config(config, overrides, resume), resume=resume)


SERVE_DOC = ("An OpenAI-compatible server (/v1/chat/completions, /v1/completions, /v1/models, /health) "
             "with continuous batching and the model card's usage rules; binds 127.0.0.1 by default.")


@app.command(context_settings=_EXTRA, help=SERVE_DOC, cls=_with_fields("r1lab.serve.config:ServeConfig"))
def serve(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file")):
    from r1lab.serve.config import ServeConfig
    cfg = _config(ServeConfig, ctx, config)  # bad options fail before torch is imported
    from r1lab.serve.server import serve as run_server
    run_server(cfg)


CHAT_DOC = ("A terminal chat by the model card's usage rules, streamed: thinking dimmed, answer plain. "
            "Commands: /think on|off, /reset, /exit.")


@app.command(context_settings=_EXTRA, help=CHAT_DOC, cls=_with_fields("r1lab.serve.config:ChatConfig"))
def chat(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file")):
    from r1lab.serve.config import ChatConfig
    cfg = _config(ChatConfig, ctx, config)
    from r1lab.serve.chat import chat as run_chat
    run_chat(cfg)


RESUME_HINT = ("interrupted (r1lab train --resume RUN_DIR continues a run from its last checkpoint; "
               "r1lab eval ... --resume an eval from its last sample)")
# click's errors: typer >= 0.20 raises those of its own copy of click, older typer click's own
CLICK_ERRORS = tuple({click.ClickException, getattr(typer, "TyperException", click.ClickException)})


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", message=".*torch_dtype.*")
    # weight loading/saving bars would drown the run's own output: off through the variable that
    # transformers reads on import (importing it here would cost every command, --help included)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers.utils.logging" in sys.modules:  # already imported (r1lab used as a library)
        sys.modules["transformers.utils.logging"].disable_progress_bar()
    try:
        code = app(prog_name="r1lab", standalone_mode=False)  # click's own handling would print boxes
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except CLICK_ERRORS as e:  # a missing option, an unknown command or option, a bad option type
        sys.exit(_usage(e))
    except (KeyboardInterrupt, click.exceptions.Abort, typer.Abort):
        code = 130
    if code == 130:  # typer turns Ctrl-C into exit code 130
        print(RESUME_HINT, file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


def _usage(e: Exception) -> int:
    """Print a click error as one line (or the help that `r1lab` alone asks for); its exit code."""
    ctx = getattr(e, "ctx", None)
    if type(e).__name__ == "NoArgsIsHelpError" and ctx is not None:
        print(ctx.get_help())
        return 0
    command = ctx.command_path if ctx is not None else "r1lab"
    print(f"error: {e.format_message()} (see {command} --help)", file=sys.stderr)
    return 2 if getattr(e, "exit_code", 2) == 2 else e.exit_code


if __name__ == "__main__":
    main()
