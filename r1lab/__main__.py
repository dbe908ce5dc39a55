"""`python -m r1lab ...`, the form torchrun launches: `torchrun --nproc-per-node N -m r1lab train ...`."""

from r1lab.cli import main

main()
