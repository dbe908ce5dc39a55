"""Data parallel training across processes: `torchrun --nproc-per-node N -m r1lab train ...`.

verl's split, in one process per rank: every rank runs the same single-controller algorithm on
the GLOBAL batch, and only the expensive parts are split. Concretely, per step:

* every rank holds the same global generator and data stream, so all draw the same P questions
  and one seed per question; rank r rolls out its contiguous share of them (whole groups, per-prompt
  seeds: exactly the rows one process would sample), scores its rows, and the shards are gathered
  (`gather`) so that every rank holds the whole batch. Advantages (bnpo's batch std too), DAPO's
  dynamic sampling, behaviour and every logged metric are then computed on the global batch by the
  single-process code, so a step gives the numbers one process gives on that batch;
* the update: each minibatch of questions is split across ranks (`share`); each rank's loss uses
  the normaliser of the whole minibatch (sequences or tokens over all ranks, as under gradient
  accumulation), DDP sums the gradients (its average times the world size) and the per-update
  metrics are reduced over ranks (`reduce`: sums, token-weighted means, maxima);
* rank 0 writes logs and checkpoints. The state that must survive is global (one generator, one
  data position, full weights and optimizer state), so a checkpoint does not depend on the number
  of ranks that wrote it, and any number of ranks resumes it.

FSDP2 (`--fsdp`): every decoder layer and the root are `fully_shard`ed; the sharded fp32 parameters
are the optimizer's (no separate master copy) and compute runs in the run's dtype
(`MixedPrecisionPolicy`). The rollout unshards the policy (`full_weights`) and decodes with the lean
engine; the training forward is the model's own HF forward, because FSDP gathers a layer's weights
only in that layer's forward and our packed forward reads weights directly. Checkpoints gather full
state dicts on rank 0 (`StateDictOptions(full_state_dict=True)`).

Backends: gloo on CPU, NCCL on CUDA (`R1LAB_DIST_BACKEND` overrides: gloo on CUDA tensors lets
several ranks share one GPU in a test). Collectives time out after `R1LAB_DIST_TIMEOUT` seconds
(default 1800). A rank that dies is noticed by torchrun, which stops the others with SIGTERM: each
prints one line saying so and exits, and torchrun's report names the rank that failed first.
"""

from __future__ import annotations

import atexit
import datetime
import os
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_model
from torch import nn

from r1lab.errors import UserError
from r1lab.models import forward as fw
from r1lab.train.batch import Batch, merge
from r1lab.train.logprobs import completion_logprobs

ENV_BACKEND, ENV_TIMEOUT = "R1LAB_DIST_BACKEND", "R1LAB_DIST_TIMEOUT"


def launched() -> bool:
    """True under torchrun (or any launcher that sets the torch.distributed environment)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


@dataclass
class Dist:
    """This process's place among the ranks; every helper is the identity for a single process."""
    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    fsdp: bool = False
    group: bool = False  # a process group is up (torchrun, even with one rank)
    compute_dtype: torch.dtype | None = None  # FSDP's MixedPrecisionPolicy param_dtype (set by `prepare`)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def grad_scale(self) -> float:
        """What the local loss is multiplied by before backward: DDP and FSDP average gradients
        over ranks, and the global loss is the SUM of the ranks' losses (global normalisers)."""
        return float(self.world)

    # ---- sharding and gathering ------------------------------------------------------------
    def share(self, q: slice) -> slice:
        """This rank's contiguous part of the questions `q` (its length divides by the world size)."""
        k = (q.stop - q.start) // self.world
        return slice(q.start + self.rank * k, q.start + (self.rank + 1) * k)

    def gather(self, batch: Batch, pad_id: int) -> Batch:
        """Every rank's `batch` (its share of the questions, in rank order) merged into the global
        batch, on every rank. Tensors travel on the CPU and come back on this rank's device."""
        if not self.group or self.world == 1:
            return batch
        out: list[Batch | None] = [None] * self.world
        dist.all_gather_object(out, _to(batch, torch.device("cpu")))
        P = len(batch.problems)
        return _to(merge(out, [(r, i) for r in range(self.world) for i in range(P)], pad_id), self.device)

    def reduce(self, metrics: dict[str, float], n_tokens: int, sums=("loss",), maxes=("mismatch_max", "ratio_max"),
               mins=("ratio_min",)) -> dict[str, float]:
        """Per-update metrics of this rank's share -> the global batch's: `sums` added, `maxes` /
        `mins` reduced, the rest token-weighted means (this rank's `n_tokens` unmasked tokens)."""
        if not self.group or self.world == 1:
            return metrics
        keys = sorted(metrics)
        weighted = [metrics[k] if k in sums else metrics[k] * n_tokens for k in keys]
        total = self._all_reduce([*weighted, float(n_tokens)], dist.ReduceOp.SUM)
        out = {k: (v if k in sums else v / max(total[-1], 1.0)) for k, v in zip(keys, total, strict=False)}
        for names, op in ((maxes, dist.ReduceOp.MAX), (mins, dist.ReduceOp.MIN)):
            present = [k for k in keys if k in names]
            if present:
                out.update(zip(present, self._all_reduce([metrics[k] for k in present], op), strict=True))
        return out

    def sum(self, values: list[float]) -> list[float]:
        return values if not self.group or self.world == 1 else self._all_reduce(values, dist.ReduceOp.SUM)

    def _all_reduce(self, values: list[float], op) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)  # (K,)
        dist.all_reduce(t, op=op)
        return t.tolist()

    def broadcast(self, obj):
        """Rank 0's `obj` on every rank."""
        if not self.group or self.world == 1:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.group:
            dist.barrier()

    # ---- the policy and its copies ---------------------------------------------------------
    def load_dtype(self, dtype: torch.dtype) -> torch.dtype:
        """The dtype to load the policy in: FSDP keeps fp32 shards and computes in `dtype`."""
        return torch.float32 if self.fsdp else dtype

    def prepare(self, model: nn.Module, compute_dtype: torch.dtype) -> nn.Module:
        """FSDP: shard `model` in place (each decoder layer, then the root); otherwise unchanged."""
        if self.fsdp:
            self.compute_dtype = compute_dtype
            _shard(model, self.device, self.world, compute_dtype)
        return model

    def frozen_copy(self, model: nn.Module) -> nn.Module:
        """A frozen copy of the policy (reference, initial policy), sharded like it under FSDP."""
        if not self.fsdp:
            ref = _deepcopy(model)
        else:
            with torch.device("meta"):
                ref = _plain_class(model)(model.config)
            _shard(ref, self.device, self.world, self.compute_dtype)
            ref.to_empty(device=self.device)
            ref.load_state_dict(model.state_dict())
            for (_, b), (_, src) in zip(ref.named_buffers(), model.named_buffers(), strict=True):
                b.copy_(src)  # non-persistent buffers (RoPE frequencies) are not in the state dict
        ref.eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref

    def scorer(self, model: nn.Module):
        """The policy's training forward (`completion_logprobs`' signature): through DDP when
        distributed without FSDP, so that backward all-reduces the gradients."""
        if not self.group or self.fsdp:
            return lambda *a, **k: completion_logprobs(model, *a, **k)
        from torch.nn.parallel import DistributedDataParallel as DDP
        ddp = DDP(_Scorer(model), device_ids=[self.device] if self.device.type == "cuda" else None,
                  find_unused_parameters=not fw.supports(model))
        return ddp

    @contextmanager
    def full_weights(self, model: nn.Module):
        """Under FSDP, the policy unsharded (plain full tensors) for the duration; else a no-op."""
        if not self.fsdp:
            yield
            return
        from torch.distributed.fsdp import FSDPModule
        mods = [m for m in model.modules() if isinstance(m, FSDPModule)]
        for m in mods:
            m.unshard()
        try:
            yield
        finally:
            for m in reversed(mods):
                m.reshard()

    # ---- checkpoint I/O (world-size independent) --------------------------------------------
    def write_model(self, model: nn.Module, tokenizer, out: Path | None) -> None:
        """A from_pretrained directory of the full policy at `out` (rank 0; others pass None)."""
        from r1lab.models.io import write_pretrained
        if self.fsdp:
            self._fsdp_write(model, out, lambda m, o: write_pretrained(m, tokenizer, o))
        elif out is not None:
            write_pretrained(model, tokenizer, out)

    def save_weights(self, model: nn.Module, path: Path | None) -> None:
        if not self.fsdp:
            if path:
                save_model(model, str(path))
            return
        self._fsdp_write(model, path, lambda m, p: save_model(m, str(p)))

    def load_weights(self, model: nn.Module, path: Path) -> None:
        if not self.fsdp:
            from safetensors.torch import load_model
            load_model(model, str(path))
            return
        state = load_file(str(path), device="cpu")
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
        missing = set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))
        tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
        if set(missing.missing_keys) - tied or missing.unexpected_keys:
            raise UserError(f"{path} does not match the model: missing {missing.missing_keys[:3]}, "
                            f"unexpected {missing.unexpected_keys[:3]}")

    def optimizer_state(self, model: nn.Module, opt) -> dict:
        if not self.fsdp:
            return opt.state_dict()
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict
        full = get_optimizer_state_dict(model, opt.opt, options=StateDictOptions(full_state_dict=True,
                                                                                 cpu_offload=True))
        return {"optimizer": full, "scheduler": opt.sched.state_dict(), "master": None}

    def load_optimizer_state(self, model: nn.Module, opt, state: dict) -> None:
        if not self.fsdp:
            opt.load_state_dict(state)
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
        set_optimizer_state_dict(model, opt.opt, optim_state_dict=state["optimizer"],
                                 options=StateDictOptions(full_state_dict=True))
        opt.sched.load_state_dict(state["scheduler"])

    def _fsdp_write(self, model: nn.Module, out: Path | None, write) -> None:
        """Gather `model`'s full state dict (a collective: every rank calls this) and let rank 0
        `write` it through a skeleton of the plain class (so save_pretrained names the real class)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if out is None:
            return
        with torch.device("meta"):
            skeleton = _plain_class(model)(model.config)
        skeleton.load_state_dict(state, assign=True, strict=False)
        skeleton.tie_weights()
        write(skeleton, out)


class _Scorer(nn.Module):
    """`completion_logprobs` of `model` as a module, so that DDP wraps the call that really runs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return completion_logprobs(self.model, *args, **kwargs)


def setup(device: str, fsdp: bool) -> Dist:
    """The process group for a torchrun launch (gloo on CPU, NCCL on CUDA), else a single process."""
    if not launched():
        if fsdp:
            raise UserError("fsdp true shards the model across torchrun ranks: launch with "
                            "torchrun --nproc-per-node N -m r1lab train ...")
        return Dist(device=torch.device(device))
    rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("device cuda: no CUDA GPU is visible to this process")
        dev = torch.device("cuda", local % torch.cuda.device_count())
        torch.cuda.set_device(dev)
    backend = os.environ.get(ENV_BACKEND) or ("nccl" if dev.type == "cuda" else "gloo")
    timeout = datetime.timedelta(seconds=float(os.environ.get(ENV_TIMEOUT, "1800")))
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timeout, device_id=dev if backend == "nccl" else None)
    signal.signal(signal.SIGTERM, _stopped(rank))
    atexit.register(teardown)
    return Dist(rank=rank, world=world, device=dev, fsdp=fsdp, group=True)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def _stopped(rank: int):
    def handler(signum, frame):  # straight to fd 2: a live progress bar may have wrapped sys.stderr
        os.write(2, (f"error: rank {rank} stopped by the launcher (another rank failed or the job was cancelled; "
                     "torchrun's report names the rank that failed first). Resume from the last checkpoint with "
                     "--resume RUN_DIR\n").encode())
        os._exit(143)
    return handler


def _shard(model: nn.Module, device: torch.device, world: int, compute_dtype: torch.dtype | None) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    mesh = init_device_mesh(device.type, (world,))
    mp = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32)
    for layer in getattr(getattr(model, "model", None), "layers", []):
        fully_shard(layer, mesh=mesh, mp_policy=mp)
    fully_shard(model, mesh=mesh, mp_policy=mp)


def _plain_class(model: nn.Module) -> type:
    """The model's own class under FSDP2's FSDP<Class> wrapper."""
    from torch.distributed.fsdp import FSDPModule
    return next(c for c in type(model).__mro__ if not issubclass(c, FSDPModule))


def _deepcopy(model: nn.Module) -> nn.Module:
    import copy
    return copy.deepcopy(model)


def _to(batch: Batch, device: torch.device) -> Batch:
    ro = batch.rollout
    moved = ro._replace(**{f: getattr(ro, f).to(device) for f in ("completion_ids", "completion_mask", "lengths",
                                                                   "truncated")},
                        logprobs=None if ro.logprobs is None else ro.logprobs.to(device))
    return Batch(moved, batch.problems, batch.texts, batch.rewards.to(device), batch.accuracy.to(device),
                 batch.format.to(device), batch.reward_failures,
                 None if batch.advantages is None else batch.advantages.to(device),
                 {k: v.to(device) for k, v in batch.reward_parts.items()}, batch.notable)
