"""Evaluation: the paper's multi-label metrics with bootstrap intervals, and prediction."""
