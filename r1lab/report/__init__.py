"""Reports across runs: `ablate` compares the --algo presets as a markdown table."""
