"""Evaluation: how well faces are found, hidden and kept realistic (metrics), on WIDER-format data."""
