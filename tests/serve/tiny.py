"""A tiny CHyVAE with one latent collapsed by hand, and its SavedModel: what tests/serve serves."""

import numpy as np

#: The latent whose posterior is made the prior for every input (KL ~ 0, "collapsed").
COLLAPSED = 2
LATENT_DIM = 4
IMAGE_SHAPE = (16, 16, 1)
NU = 10.0
DECODER_GAIN = 2.0
DECODER_SEED = 0


def collapse(model, j):
    """Makes q(z_j | x) = N(0, prior variance_j) whatever x: the head's mean j and row j of its
    Cholesky factor L stop depending on the input, with L_jj = sqrt(prior variance_j)."""
    from hwkeras.report.latents import prior_marginal_variance

    dense = model.head.dense
    kernel, bias = (np.array(w) for w in dense.get_weights())
    p = model.latent_dim
    kernel[:, j], bias[j] = 0.0, 0.0
    target = np.sqrt(prior_marginal_variance(model)[j]) - 1e-4  # the head adds 1e-4 to softplus(.)
    for k, (row, col) in enumerate(zip(*np.tril_indices(p))):
        if row == j:
            kernel[:, p + k] = 0.0
            bias[p + k] = np.log(np.expm1(target)) if col == j else 0.0  # softplus^-1
    dense.set_weights([kernel, bias])


def tiny_model():
    import hwkeras

    model = hwkeras.HyperpriorVAE(latent_dim=LATENT_DIM, nu=NU, image_shape=IMAGE_SHAPE, hidden_units=8, seed=2)
    collapse(model, COLLAPSED)
    # An untrained decoder draws grey 0.5 +- 0.003 for every z, too flat to see a slider move, and
    # its draws depend on what Keras built before in the process: drawn again here from a fixed
    # seed, He-scaled times a gain, with positive biases (no dead ReLU at z = 0), the pixels span
    # most of [0, 1] and move with every latent.
    rng = np.random.default_rng(DECODER_SEED)
    for weight in model.decoder.weights:
        shape = tuple(weight.shape)
        if weight.path.endswith("kernel"):
            fan_in = int(np.prod(shape)) // shape[-2] if len(shape) == 4 else shape[0]  # deconv: (h, w, out, in)
            weight.assign(rng.normal(0.0, DECODER_GAIN * np.sqrt(2.0 / fan_in), shape).astype("float32"))
        else:
            weight.assign(np.full(shape, 0.1, "float32"))
    return model


def export(model, path):
    from hwkeras.export import export_saved_model

    return export_saved_model(model, path, card={"training_steps": 7, "metrics": {"mig": 0.25}})
