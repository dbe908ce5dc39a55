"""Run by tests/train/test_dist.py under torchrun: `tests.helpers.dist_step` with DDP, then with
FSDP2, on the same global batch; rank 0 saves both results, and the FSDP trainer writes a
checkpoint (every rank takes part in gathering it).

    PYTHONPATH=. torchrun --standalone --nproc-per-node 2 tests/train/dist_worker.py OUT_DIR REWARD.py
"""

import sys
from pathlib import Path

import torch

from r1lab.train import dist
from tests.helpers import dist_step


def main(out: Path, reward: str) -> None:
    torch.set_num_threads(1)
    d = dist.setup("cpu", fsdp=False)
    for fsdp in (False, True):
        res = dist_step(d, reward, fsdp=fsdp)
        trainer = res.pop("trainer")
        name = "fsdp" if fsdp else "ddp"
        if fsdp:
            if d.is_main:
                (out / "fsdp-checkpoint").mkdir()
            d.barrier()
            trainer.save_state(out / "fsdp-checkpoint" if d.is_main else None)
        if d.is_main:
            torch.save(res, out / f"{name}.pt")
    d.barrier()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
