"""Training presets: the papers' settings and a short one for a first run on a CPU.

``hidden_units`` is left to the dataset when a preset does not fix it: 128 for dSprites and
CorrelatedEllipses, 256 for CelebA, 3D Chairs and 3D Faces, as in Ansari & Soh (2019).
"""

PRESETS = {
    # A first run on 2 CPU cores in a few minutes: a higher learning rate than the paper's so
    # that a few thousand steps already give recognisable reconstructions and traversals.
    "quick": {"latent_dim": 10, "nu": 200.0, "batch_size": 64, "steps": 2000, "learning_rate": 5e-4},
    # Ansari & Soh (2019), CorrelatedEllipses: Adam 1e-4, batch 50, latent 10, nu 200, 150k steps.
    "paper": {"latent_dim": 10, "nu": 200.0, "batch_size": 50, "steps": 150_000, "learning_rate": 1e-4},
    # google-research/disentanglement_lib's baselines: Adam 1e-4, batch 64, latent 10, 300k steps.
    "dlib": {"latent_dim": 10, "nu": 200.0, "batch_size": 64, "steps": 300_000, "learning_rate": 1e-4},
}

SMALL_IMAGE_DATASETS = ("correlated-ellipses", "dsprites", "dsprites-procedural")


def default_hidden_units(dataset):
    return 128 if dataset in SMALL_IMAGE_DATASETS else 256
