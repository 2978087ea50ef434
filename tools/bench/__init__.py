"""Benchmarks of the skill's per-frame processing against a seed-style pipeline."""
