"""Runs of runs: stages joined only by artefacts on disk. Today `ablate` (the --algo presets side
by side, one `r1lab train` run each); the R1 pipeline and distillation come next."""
