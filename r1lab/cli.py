"""The `r1lab` command: one short function per subcommand (parse, call one entry point, print).

Config fields are passed as `--field value` (or `--field=value`; dashes and underscores are the
same), after an optional `--config FILE.yaml`. User errors print one line and exit with code 2.
"""

from __future__ import annotations

import logging
import sys
import warnings

import typer

from r1lab import config as C
from r1lab.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="r1lab: the DeepSeek-R1 recipe, from R1-Zero GRPO to evaluation.")
_EXTRA = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["-h", "--help"]}


def _fields_help(cls) -> str:
    rows = [f"  --{n.replace('_', '-')} {t} (default {d!r}): {h}" for n, t, d, h in C.describe(cls)]
    return "\n\nConfig fields:\n\n" + "\n\n".join(rows)


def _config(cls, ctx: typer.Context, config_file: str | None):
    return C.load(cls, config_file, C.parse_overrides(list(ctx.args)))


def _train_doc() -> str:
    from r1lab.train.config import GRPOConfig
    return ("R1-Zero: GRPO straight from a base model with accuracy + format rewards." + _fields_help(GRPOConfig))


@app.command(context_settings=_EXTRA, help=_train_doc())
def train(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file")):
    from r1lab.train.config import GRPOConfig
    from r1lab.train.run import run
    run(_config(GRPOConfig, ctx, config))


def _base_doc() -> str:
    from r1lab.models.pretrain import BaseConfig
    return ("Build the built-in tiny base model: synthetic corpus, BPE tokenizer, pretraining."
            + _fields_help(BaseConfig))


@app.command(context_settings=_EXTRA, help=_base_doc())
def base(ctx: typer.Context, config: str = typer.Option(None, "--config", help="YAML config file")):
    from r1lab.models.pretrain import BaseConfig, pretrain
    cfg = _config(BaseConfig, ctx, config)
    out = pretrain(cfg)
    typer.echo(f"base model written to {out}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", message=".*torch_dtype.*")
    try:
        app()
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
