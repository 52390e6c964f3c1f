"""Configurations of the topographic-map experiment: PSD, direct auto-encoder, L1 baseline."""
