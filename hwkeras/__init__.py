"""hwkeras: unsupervised disentanglement with a hierarchical hyperprior (CHyVAE) in Keras 3."""

__version__ = "0.1.0"

from hwkeras._startup import quiet_tensorflow_startup

with quiet_tensorflow_startup():
    from hwkeras import layers  # noqa: F401  (registers the custom layers for .keras loading)
    from hwkeras.baselines import VAE
    from hwkeras.model import HyperpriorVAE

__all__ = ["HyperpriorVAE", "VAE", "layers", "__version__"]
