"""Explanations: Grad-CAM heatmaps of a trained run, and how faithful they are."""
