"""Scorers: one module per scorer; `flames.scorers.base` defines the interface."""
