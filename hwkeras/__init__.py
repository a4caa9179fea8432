"""hwkeras: unsupervised disentanglement with a hierarchical hyperprior (CHyVAE) in Keras 3."""

__version__ = "0.1.0"

from hwkeras._startup import quiet_tensorflow_startup

with quiet_tensorflow_startup():
    from hwkeras import layers  # noqa: F401  (registers the custom layers for .keras loading)
    from hwkeras.baselines import BFVAE0, BFVAE1, BFVAE2, VAE, BetaTCVAE, BetaVAE, FactorVAE, build_model
    from hwkeras.model import HyperpriorVAE

__all__ = ["BFVAE0", "BFVAE1", "BFVAE2", "BetaTCVAE", "BetaVAE", "FactorVAE", "HyperpriorVAE", "VAE",
           "build_model", "layers", "__version__"]
