"""Experiment scripts; run each as ``python -m experiments.<name>.main`` from the repo root."""
