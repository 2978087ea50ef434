"""Evaluation: segmentation and temporal metrics, model runners, synthetic sequences, reports."""
