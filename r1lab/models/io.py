"""Load and save Hugging Face causal LMs and tokenizers.

`--model` accepts "tiny" (the built-in base shipped inside the package), "tiny-small" (a
smaller student of the same family, same tokenizer and corpus; recipes/tiny-small.yaml), a local
model directory, or a hub id such as "Qwen/Qwen2.5-0.5B" (downloaded by transformers when online).
Problems the user can fix (a missing directory, a corrupt or partial model, no network for a
hub id) raise `UserError` with one line naming the path.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from r1lab.errors import UserError

BUILTIN = "tiny"
BUILTIN_DIR = Path(__file__).parent / "tiny_base"
BUILTINS = {BUILTIN: BUILTIN_DIR, "tiny-small": Path(__file__).parent / "tiny_small"}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def resolve(name: str | None) -> str:
    """The path or hub id that transformers should load for `--model NAME`."""
    if name in (None, ""):
        return str(BUILTIN_DIR)
    if name in BUILTINS:
        return str(BUILTINS[name])
    p = Path(name).expanduser()
    if p.exists():
        if not p.is_dir():
            raise UserError(f"model path {name} is a file; expected a model directory")
        if not (p / "config.json").is_file():
            raise UserError(f"model directory {name} has no config.json")
        return str(p)
    if _HUB_ID.fullmatch(name) and not name.startswith((".", "/", "~")):
        return name
    raise UserError(f"model {name!r} not found: not a directory, and not a hub id like org/name")


def is_builtin(name: str | None) -> bool:
    """A model shipped inside the package (trained on the built-in tasks' corpus, 128-token answers)."""
    return name in (None, "", *BUILTINS)


def load_tokenizer(name: str | None):
    from transformers import AutoTokenizer
    path = resolve(name)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"cannot load tokenizer from {path}: {_first_line(e)}") from None
    if not tok.encode("1 + 1", add_special_tokens=False):  # transformers may build an empty one
        raise UserError(f"cannot load tokenizer from {path}: no usable tokenizer files (tokenizer.json?)")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(name: str | None, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    from transformers import AutoModelForCausalLM
    path = resolve(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise UserError(f"cannot load model from {path}: {_first_line(e)}") from None
    return model.to(device)


def load(name: str | None, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """(model, tokenizer) for `--model NAME`."""
    return load_model(name, dtype, device), load_tokenizer(name)


def write_pretrained(model, tokenizer, out: str | Path) -> None:
    """Write model + tokenizer into `out` (not atomic: see `save`, or r1lab.runs.Checkpoints)."""
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def save(model, tokenizer, out: str | Path) -> Path:
    """Write model + tokenizer atomically: into a temporary sibling, then one rename."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_pretrained(model, tokenizer, tmp)
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
