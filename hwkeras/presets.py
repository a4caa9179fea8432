"""Training presets: the papers' settings and a short one for a first run on a CPU.

A preset fixes the optimisation (latent size, batch, steps, learning rate, and where a paper says
so the architecture and Adam's other constants); the model's own options (nu, beta, gamma, ...)
default to the model's constructor (``hwkeras.models``), and the dense width to the
architecture's or the dataset's (``hwkeras.architectures.ARCHITECTURES``, ``hwkeras.data.registry``).
"""

#: Locatello et al. (ICML 2019), disentanglement_lib's unsupervised_study_v1 ``model_configs/shared.gin``:
#: batch 64, 10 latents, 300,000 steps, its conv_encoder/deconv_decoder and Bernoulli reconstruction
#: (every hwkeras model's), and vae/AdamOptimizer(1e-4, beta1 0.9, beta2 0.999, epsilon 1e-8): Keras's
#: Adam defaults but epsilon, which Keras puts at 1e-7. The gin file's discriminator/AdamOptimizer
#: (1e-4, beta1 0.5, beta2 0.9, epsilon 1e-8) is what FactorVAE's and BF-VAE's discriminator always
#: use (``hwkeras.baselines.discriminator``), so the preset needs no setting for it.
LOCATELLO = {"latent_dim": 10, "batch_size": 64, "steps": 300_000, "learning_rate": 1e-4, "architecture": "dlib",
             "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}}

PRESETS = {
    # A first run on 2 CPU cores in a few minutes: a higher learning rate than the paper's so
    # that a few thousand steps already give recognisable reconstructions and traversals.
    "quick": {"latent_dim": 10, "batch_size": 64, "steps": 2000, "learning_rate": 5e-4},
    # Ansari & Soh (2019), CorrelatedEllipses: Adam 1e-4, batch 50, latent 10, nu 200, 150k steps.
    "paper": {"latent_dim": 10, "batch_size": 50, "steps": 150_000, "learning_rate": 1e-4},
    "locatello": LOCATELLO,
    # The name of 0.1's disentanglement_lib preset (then batch, latents, steps and learning rate
    # alone): now the same entry as "locatello".
    "dlib": LOCATELLO,
}

#: What ``--preset``'s help says of each.
PRESET_HELP = {
    "quick": "a first run on a CPU",
    "paper": "Ansari & Soh's CHyVAE settings",
    "locatello": "disentanglement_lib's study (Locatello et al. 2019): its architecture and training",
    "dlib": "the same as locatello",
}


def adam_settings(config):
    """The Adam constants besides the learning rate a run's ``config`` names ({} : Keras's defaults)."""
    return dict(config.get("adam") or {})
