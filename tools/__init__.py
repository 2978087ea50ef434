"""PC-only tools: model import/export, evaluation, training, benchmarks, packaging. Never shipped.

Run each from the repository root as `python -m tools.<package>.<module>` (see the README).
The package __init__ files import nothing, so the tools that run in the MediaPipe venv (no
torch, no onnx) can import their packages.
"""
