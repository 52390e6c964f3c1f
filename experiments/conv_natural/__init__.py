"""Convolutional group-sparse auto-encoder on whitened natural images."""
