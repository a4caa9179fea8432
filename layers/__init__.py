"""Custom Keras layers of hwkeras (installed as ``hwkeras.layers``)."""

from hwkeras.layers.cholesky_head import CholeskyGaussianHead, DiagonalGaussianHead
from hwkeras.layers.conv import build_decoder, build_encoder, validate_image_shape
from hwkeras.layers.dlib import build_dlib_decoder, build_dlib_encoder
from hwkeras.layers.inverse_wishart import InverseWishartSampler, bartlett_inverse_wishart

#: The (encoder, decoder) builders of each ``architecture`` (names: hwkeras.architectures.ARCHITECTURES).
NETWORKS = {
    "chyvae": (build_encoder, build_decoder),
    "dlib": (build_dlib_encoder, build_dlib_decoder),
}

__all__ = [
    "NETWORKS",
    "CholeskyGaussianHead",
    "DiagonalGaussianHead",
    "InverseWishartSampler",
    "bartlett_inverse_wishart",
    "build_decoder",
    "build_dlib_decoder",
    "build_dlib_encoder",
    "build_encoder",
    "validate_image_shape",
]
