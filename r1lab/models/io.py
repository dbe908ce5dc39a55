"""Load and save Hugging Face causal LMs and tokenizers.

`--model` accepts "tiny" (the built-in base shipped inside the package), "tiny-small" (a
smaller student of the same family, same tokenizer and corpus; recipes/tiny-small.yaml),
"tiny-search" (tiny's size, pretrained on pair search problems: the emergence base of
recipes/emergence.yaml, built by recipes/tiny-search.yaml), a local model directory, or a hub id
such as "Qwen/Qwen2.5-0.5B" (downloaded by transformers when online).
Problems the user can fix raise `UserError` with one line naming the file, before transformers
prints anything: a missing directory; a config.json transformers cannot use; a weights file
that is not complete safetensors (truncated, empty, garbage: its header is read first); weights
whose shapes or names do not match config.json (transformers would re-initialise them, after a
long load report); a hub id that is not in the local cache while offline (HF_HUB_OFFLINE, or
the hub unreachable within 3 s: no minute of retries).

`save` writes a model directory atomically, and refuses to replace a directory that is not a
model directory (anything but the files a model directory holds, e.g. a training run).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import torch

from r1lab.errors import UserError

BUILTIN = "tiny"
BUILTIN_DIR = Path(__file__).parent / "tiny_base"
BUILTINS = {BUILTIN: BUILTIN_DIR, "tiny-small": Path(__file__).parent / "tiny_small",
            "tiny-search": Path(__file__).parent / "tiny_search"}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# what save_pretrained writes into a model directory (model and tokenizer); `save` replaces only these
MODEL_FILES = re.compile(r"config\.json|generation_config\.json|model(-\d+-of-\d+)?\.safetensors|"
                         r"model\.safetensors\.index\.json|tokenizer(_config)?\.json|special_tokens_map\.json|"
                         r"chat_template\.(jinja|json)|vocab\.json|merges\.txt|added_tokens\.json|"
                         r"tokenizer\.model|pytorch_model(-\d+-of-\d+)?\.bin|pytorch_model\.bin\.index\.json")
_PROBE_SECONDS = 3.0
_reachable: dict[str, str | None] = {}


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
        _check_hub(name)
        return name
    raise UserError(f"model {name!r} not found: not a directory, and not a hub id like org/name")


def is_builtin(name: str | None) -> bool:
    """A model shipped inside the package (trained on the built-in tasks' corpus, 128-token answers)."""
    return name in (None, "", *BUILTINS)


def _check_hub(repo_id: str) -> None:
    """A hub id must be in the local cache, or the hub must answer: offline is one line, at once."""
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json"), str):
        return
    if constants.HF_HUB_OFFLINE:
        raise UserError(f"model {repo_id!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set "
                        "(offline): download it where there is network, or pass a local model directory")
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    problem = _probe(host)
    if problem:
        raise UserError(f"model {repo_id!r} is not in the local Hugging Face cache and {host} cannot be reached "
                        f"({problem}): offline? pass a local model directory")


def _probe(host: str) -> str | None:
    """None if a TCP connection to host:443 opens within a few seconds, else why not (cached)."""
    if host not in _reachable:
        result = ["no answer within %g s" % _PROBE_SECONDS]

        def connect() -> None:
            try:
                socket.create_connection((host, 443), timeout=_PROBE_SECONDS).close()
                result[0] = None
            except OSError as e:
                result[0] = e.strerror or str(e) or type(e).__name__

        t = threading.Thread(target=connect, daemon=True)  # name lookups ignore socket timeouts
        t.start()
        t.join(_PROBE_SECONDS + 0.5)
        _reachable[host] = result[0]
    return _reachable[host]


@contextmanager
def quiet():
    """Transformers' warnings (its load report) off: what goes wrong is raised as one line instead."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def load_config(name: str | None):
    """The transformers config of `--model NAME`, or one line naming config.json."""
    from transformers import AutoConfig

    path = resolve(name)
    try:
        with quiet():
            return AutoConfig.from_pretrained(path)
    except Exception as e:  # noqa: BLE001 - whatever transformers cannot use in config.json is the user's to fix
        where = Path(path) / "config.json" if Path(path).is_dir() else f"{path} (config.json)"
        raise UserError(f"cannot use {where}: {_first_line(e.__cause__ or e)}") from None


def check_weights(path: Path) -> None:
    """Every safetensors file of a model directory has a complete header that covers the file."""
    from safetensors import safe_open

    for f in sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt"):
                pass
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for any bad file
            raise UserError(f"{f}: not a complete safetensors file ({_first_line(e)}); truncated or corrupt? "
                            f"({f.stat().st_size} bytes)") from None


def load_tokenizer(name: str | None):
    from transformers import AutoTokenizer
    path = resolve(name)
    try:
        with quiet():
            tok = AutoTokenizer.from_pretrained(path)
    except Exception as e:  # noqa: BLE001 - tokenizers raises bare Exceptions for files it cannot parse
        raise UserError(f"cannot load tokenizer from {path}: {_first_line(e)}") from None
    if not tok.encode("1 + 1", add_special_tokens=False):  # transformers may build an empty one
        raise UserError(f"cannot load tokenizer from {path}: no usable tokenizer files (tokenizer.json?)")
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(name: str | None, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    from transformers import AutoModelForCausalLM
    config = load_config(name)
    path = resolve(name)
    if Path(path).is_dir():
        check_weights(Path(path))
    try:
        with quiet():
            model, info = AutoModelForCausalLM.from_pretrained(path, config=config, dtype=dtype,
                                                               ignore_mismatched_sizes=True, output_loading_info=True)
    except Exception as e:  # noqa: BLE001 - a model transformers cannot build from these files is the user's to fix
        raise UserError(f"cannot load model from {path}: {_first_line(e)}") from None
    problem = _mismatch(info)
    if problem:
        raise UserError(f"{Path(path) / 'config.json'} does not match the weights of {path}: {problem}")
    return model.to(device)


def _mismatch(info: dict) -> str | None:
    """The first weight that config.json does not account for, in words (None: all loaded as stored)."""
    mismatched = sorted(info.get("mismatched_keys") or [], key=str)
    if mismatched:
        key, stored, built = (list(mismatched[0]) + [None, None])[:3]
        return (f"{key} is {list(stored)} in the weights but {list(built)} by config.json" if built is not None
                else f"{key} has another shape in the weights")
    for kind, words in (("missing_keys", "is not in the weights"),
                        ("unexpected_keys", "is not in config.json's model")):
        keys = sorted(info.get(kind) or [])
        if keys:
            return f"{keys[0]} {words} ({len(keys)} such tensors)"
    return None


def load(name: str | None, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """(model, tokenizer) for `--model NAME`."""
    return load_model(name, dtype, device), load_tokenizer(name)


def write_pretrained(model, tokenizer, out: str | Path) -> None:
    """Write model + tokenizer into `out` (not atomic: see `save`, or r1lab.runs.Checkpoints)."""
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def check_model_target(out: str | Path) -> None:
    """`out` may become (or be replaced by) a model directory: it is absent, empty, or a model
    directory (config.json and only the files a model directory holds). Anything else (a training
    run, a folder of the user's files, a file) is refused before any work."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if not out.is_dir():
        raise UserError(f"{out} is a file, not a model directory; refusing to replace it: choose another --output-dir")
    names = sorted(p.name for p in out.iterdir())
    foreign = [n for n in names if not MODEL_FILES.fullmatch(n)]
    if foreign or (names and "config.json" not in names):
        shown = (foreign or names)[0]
        raise UserError(f"{out} is not a model directory (it holds {shown}"
                        f"{f' and {len(names) - 1} more' if len(names) > 1 else ''}); refusing to replace it: "
                        "choose another --output-dir")


def save(model, tokenizer, out: str | Path) -> Path:
    """Write model + tokenizer atomically: into a temporary sibling, then one rename. `out` must
    pass `check_model_target`."""
    out = Path(out)
    check_model_target(out)
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
