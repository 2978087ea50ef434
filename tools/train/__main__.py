"""`python -m tools.train`: the training command line (tools/train/cli.py)."""
from tools.train.cli import main

main()
