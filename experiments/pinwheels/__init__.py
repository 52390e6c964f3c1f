"""Orientation maps and pinwheels of a locally connected topographic auto-encoder."""
