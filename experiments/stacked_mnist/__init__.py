"""Stacked convolutional auto-encoders on MNIST: pretrained against random initialisation."""
