"""Training presets: the papers' settings and a short one for a first run on a CPU.

A preset fixes the optimisation (latent size, batch, steps, learning rate); the model's own
options (nu, beta, gamma, ...) default to the model's constructor (``hwkeras.models``), and the
dense width to the dataset's (``hwkeras.data.registry``).
"""

PRESETS = {
    # A first run on 2 CPU cores in a few minutes: a higher learning rate than the paper's so
    # that a few thousand steps already give recognisable reconstructions and traversals.
    "quick": {"latent_dim": 10, "batch_size": 64, "steps": 2000, "learning_rate": 5e-4},
    # Ansari & Soh (2019), CorrelatedEllipses: Adam 1e-4, batch 50, latent 10, nu 200, 150k steps.
    "paper": {"latent_dim": 10, "batch_size": 50, "steps": 150_000, "learning_rate": 1e-4},
    # google-research/disentanglement_lib's baselines: Adam 1e-4, batch 64, latent 10, 300k steps.
    "dlib": {"latent_dim": 10, "batch_size": 64, "steps": 300_000, "learning_rate": 1e-4},
}
