"""PC-only tools: model import/export, evaluation, training, benchmarks. Never shipped."""
