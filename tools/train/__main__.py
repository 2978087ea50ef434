"""`python -m tools.train`: the training command line (tools/train/cli.py)."""
from tools.train.cli import run_cli

run_cli()
