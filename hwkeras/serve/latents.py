"""Each latent's average KL, for the explorer's slider order, from a Servable's ``encode`` alone.

The quantity is the run report's (``hwkeras.report.latents``: each latent's posterior marginal
against the prior marginal, N(0, 1) for the diagonal models and N(0, diag(Psi) / max(nu - p - 1, 1))
for CHyVAE), computed here in numpy from the signatures' outputs so that a server without Keras
(``--runtime onnx``) computes it too; ``tests/serve`` holds the two equal.

Its images: the card's ``latent_kl`` when the export carries one; else ``KL_IMAGES`` samples of
the card's dataset (drawn as the report draws them) when that dataset is available here; else the
model's own prior samples (``sample_seeded`` with seed 0), decoded. A collapsed latent (its
posterior is the prior for every input) has a KL near 0 whichever images are used.
"""

import numpy as np

from hwkeras.metrics.udr import gaussian_kl_per_latent

#: As ``hwkeras.report.latents`` (which loads Keras, so it is not imported here): nats below which
#: a latent is marked collapsed; how many images the average is over, and their seed.
COLLAPSED_KL = 0.01
KL_IMAGES = 256
PREVIEW_SEED = 0
ENCODE_BATCH_SIZE = 64


def prior_variance(card):
    """(p,) the prior marginal variance each latent's KL is taken against."""
    p = int(card["latent_dim"])
    if card.get("nu") is None or card.get("psi") is None:
        return np.ones(p)
    return np.diag(np.asarray(card["psi"], np.float64)) / max(float(card["nu"]) - p - 1.0, 1.0)


def average_kl(servable, images):
    """(p,) the average KL of each latent over ``images`` (n, H, W, C) float32 in [0, 1]."""
    means, variances = [], []
    for start in range(0, len(images), ENCODE_BATCH_SIZE):
        out = servable.predict("encode", {"images": np.asarray(images[start:start + ENCODE_BATCH_SIZE], np.float32)})
        if "scale_tril" in out:  # CHyVAE's L: the marginal variance is diag(L L^T)
            variances.append(np.sum(np.square(out["scale_tril"].astype(np.float64)), axis=-1))
        else:
            variances.append(np.exp(out["log_variance"].astype(np.float64)))
        means.append(out["mean"].astype(np.float64))
    scale = prior_variance(servable.card)
    # KL(N(m, v) || N(0, s)) = KL(N(m / sqrt(s), v / s) || N(0, 1)).
    kl = gaussian_kl_per_latent(np.concatenate(means) / np.sqrt(scale), np.concatenate(variances) / scale)
    return kl.mean(axis=0)


def kl_images(servable):
    """(images, source): what the average KL is taken over, and those images in words (images None
    when there are none: no dataset here and no ``sample_seeded`` to draw from)."""
    card = servable.card
    name = card.get("dataset")
    if name:
        try:
            from hwkeras.data import get_dataset

            dataset = get_dataset(name, image_size=int(card["image_shape"][0]))
            images = dataset.sample_observations(KL_IMAGES, np.random.RandomState(PREVIEW_SEED))
            return np.asarray(images, np.float32), f"{KL_IMAGES} images of {name}"
        except Exception:  # noqa: BLE001 - the dataset is often not on a serving machine
            pass
    if "sample_seeded" not in servable.signatures():
        return None, "nothing: the dataset is not here and the model has no sample_seeded"
    inputs = {"num_samples": np.int32(KL_IMAGES), "seed": np.int32(PREVIEW_SEED)}
    if "nu" in servable.signatures()["sample_seeded"]["inputs"]:
        inputs["nu"] = np.float32(0.0)
    images = servable.predict("sample_seeded", inputs)["images"]
    return images, f"{KL_IMAGES} of the model's own prior samples (seed {PREVIEW_SEED}; its dataset is not here)"


def latent_rows(servable):
    """``{"latents": [{"latent", "kl", "collapsed"}, ...] largest KL first, "source", "threshold"}``
    (``kl`` None for every latent, in their own order, when there are no images to average over)."""
    if isinstance(servable.card.get("latent_kl"), list):
        kl, source = np.asarray(servable.card["latent_kl"], np.float64), "the model card"
    else:
        images, source = kl_images(servable)
        if images is None:  # no KL to order by: the latents in their own order, none marked
            return {"latents": [{"latent": j, "kl": None, "collapsed": False}
                                for j in range(int(servable.card["latent_dim"]))],
                    "source": source, "threshold": COLLAPSED_KL}
        kl = average_kl(servable, images)
    order = np.argsort(-kl, kind="stable")
    return {"latents": [{"latent": int(j), "kl": float(kl[j]), "collapsed": bool(kl[j] < COLLAPSED_KL)}
                        for j in order],
            "source": source, "threshold": COLLAPSED_KL}
