"""Configurations of the tree-structured dictionary experiment: full images, sample, tiny."""
