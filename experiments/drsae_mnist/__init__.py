"""DrSAE on MNIST: a two-phase discriminative recurrent sparse auto-encoder."""
