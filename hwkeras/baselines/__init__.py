"""Baselines sharing HyperpriorVAE's encoder and decoder, with a diagonal Gaussian posterior."""

from hwkeras.baselines.vae import VAE

__all__ = ["VAE"]
