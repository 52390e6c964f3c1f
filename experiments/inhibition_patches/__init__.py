"""Lateral inhibition on whitened natural-image patches: tree, 2-D map and learned S."""
