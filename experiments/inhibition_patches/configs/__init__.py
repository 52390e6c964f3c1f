"""Configurations of the lateral inhibition experiment, one file per structure of S."""
