"""Tree-structured dictionary learning on whitened natural-image patches."""
