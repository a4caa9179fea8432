"""Custom Keras layers of hwkeras (installed as ``hwkeras.layers``)."""

from hwkeras.layers.cholesky_head import CholeskyGaussianHead, DiagonalGaussianHead
from hwkeras.layers.conv import build_decoder, build_encoder, validate_image_shape
from hwkeras.layers.inverse_wishart import InverseWishartSampler, bartlett_inverse_wishart

__all__ = [
    "CholeskyGaussianHead",
    "DiagonalGaussianHead",
    "InverseWishartSampler",
    "bartlett_inverse_wishart",
    "build_decoder",
    "build_encoder",
    "validate_image_shape",
]
