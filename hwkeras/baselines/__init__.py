"""Baselines sharing HyperpriorVAE's encoder and decoder, with a diagonal Gaussian posterior.

beta-VAE (``vae``), FactorVAE, beta-TCVAE, DIP-VAE-I/II, AnnealedVAE and BF-VAE-0/1/2; the registry of
names the CLI takes is ``hwkeras.models``.
"""

from hwkeras.baselines.annealed_vae import AnnealedVAE
from hwkeras.baselines.bayes_factor_vae import BFVAE0, BFVAE1, BFVAE2
from hwkeras.baselines.beta_tcvae import BetaTCVAE
from hwkeras.baselines.dip_vae import DIPVAEI, DIPVAEII
from hwkeras.baselines.factor_vae import FactorVAE
from hwkeras.baselines.vae import VAE, BetaVAE

__all__ = ["AnnealedVAE", "BFVAE0", "BFVAE1", "BFVAE2", "BetaTCVAE", "BetaVAE", "DIPVAEI", "DIPVAEII", "FactorVAE",
           "VAE"]
