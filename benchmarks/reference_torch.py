"""Hand-written PyTorch CHyVAE and VAE: the same net and loss as hwkeras, without Keras.

The yardstick of benchmarks/bench_gpu.py and benchmarks/bench_torch.py: what a PyTorch user would
write for the paper's model. Same layers as hwkeras.layers.conv (4x4 stride-2 convolutions 32-32-64-64,
dense 128, the mirrored decoder; PyTorch's padding=1 is Keras's "same" for these shapes), same
posterior head (dense -> mean and a packed lower triangle with a softplus diagonal, S = L L^T +
1e-4 I, scale_tril = cholesky(S)), same loss (summed Bernoulli NLL; the CHyVAE KL terms in the
rank-one form of hwkeras.priors, constants included), Adam. ``check_against_hwkeras`` verifies
the KL terms against hwkeras.priors and the parameter count against the Keras model.
"""

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

FILTERS = (32, 32, 64, 64)


class Encoder(nn.Module):
    def __init__(self, channels=1, side=64, hidden=128):
        super().__init__()
        layers, previous = [], channels
        for filters in FILTERS:
            layers += [nn.Conv2d(previous, filters, 4, stride=2, padding=1), nn.ReLU()]
            previous = filters
        self.convs = nn.Sequential(*layers)
        self.hidden = nn.Linear(FILTERS[-1] * (side // 16) ** 2, hidden)

    def forward(self, x):
        return F.relu(self.hidden(torch.flatten(self.convs(x), 1)))


class Decoder(nn.Module):
    def __init__(self, latent, channels=1, side=64, hidden=128):
        super().__init__()
        self.side = side
        self.hidden = nn.Linear(latent, hidden)
        self.project = nn.Linear(hidden, FILTERS[-1] * (side // 16) ** 2)
        layers, previous = [], FILTERS[-1]
        for filters in reversed(FILTERS[:-1]):
            layers += [nn.ConvTranspose2d(previous, filters, 4, stride=2, padding=1), nn.ReLU()]
            previous = filters
        layers.append(nn.ConvTranspose2d(previous, channels, 4, stride=2, padding=1))
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z):
        h = F.relu(self.project(F.relu(self.hidden(z))))
        return self.deconvs(h.view(-1, FILTERS[-1], self.side // 16, self.side // 16))


def bernoulli_nll(x, logits):
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(-1)


class ReferenceVAE(nn.Module):
    def __init__(self, latent=10, channels=1, side=64, hidden=128):
        super().__init__()
        self.latent = latent
        self.encoder = Encoder(channels, side, hidden)
        self.head = nn.Linear(hidden, 2 * latent)
        self.decoder = Decoder(latent, channels, side, hidden)

    def loss(self, x):
        out = self.head(self.encoder(x))
        mean, log_variance = out[:, :self.latent], out[:, self.latent:]
        z = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
        kl = 0.5 * (log_variance.exp() + mean.square() - 1.0 - log_variance).sum(-1)
        return (bernoulli_nll(x, self.decoder(z)) + kl).mean()


def _multivariate_digamma(a, p):
    from scipy import special

    return float(np.sum(special.digamma(a + (1.0 - np.arange(1, p + 1)) / 2.0)))


class ReferenceCHyVAE(nn.Module):
    """CHyVAE with Psi = max(nu - p - 1, 1) I, as hwkeras's default."""

    def __init__(self, latent=10, nu=200.0, channels=1, side=64, hidden=128):
        from scipy import special

        super().__init__()
        p = self.latent = latent
        self.encoder = Encoder(channels, side, hidden)
        self.head = nn.Linear(hidden, p + p * (p + 1) // 2)
        self.decoder = Decoder(latent, channels, side, hidden)
        rows, cols = np.tril_indices(p)
        self.register_buffer("rows", torch.as_tensor(rows), persistent=False)
        self.register_buffer("cols", torch.as_tensor(cols), persistent=False)
        psi = max(nu - p - 1.0, 1.0) * np.eye(p)
        self.register_buffer("psi_inverse", torch.as_tensor(np.linalg.inv(psi), dtype=torch.float32), persistent=False)
        self.nu, self.logdet_psi = nu, float(np.linalg.slogdet(psi)[1])
        digamma = _multivariate_digamma((nu + 1) / 2, p)
        self.latent_constant = -p - p * math.log(2.0) - digamma
        self.hyper_constant = (float(special.multigammaln(nu / 2, p)) - float(special.multigammaln((nu + 1) / 2, p))
                               + 0.5 * digamma)

    def posterior(self, features):
        p = self.latent
        out = self.head(features)
        mean, packed = out[:, :p], out[:, p:]
        lower = out.new_zeros(out.shape[0], p, p)
        lower[:, self.rows, self.cols] = packed
        diagonal = torch.diagonal(lower, dim1=-2, dim2=-1)
        lower = lower - torch.diag_embed(diagonal) + torch.diag_embed(F.softplus(diagonal) + 1e-4)
        covariance = lower @ lower.transpose(-1, -2) + 1e-4 * torch.eye(p, device=out.device)
        return mean, torch.linalg.cholesky_ex(covariance)[0]

    def kl_terms(self, mean, scale_tril, z):
        nu_post = self.nu + 1.0
        a = z @ self.psi_inverse
        c = 1.0 + (a * z).sum(-1)
        trace_s = ((self.psi_inverse @ scale_tril) * scale_tril).sum((-2, -1))
        a_s_a = torch.einsum("bij,bi->bj", scale_tril, a).square().sum(-1)
        trace_mean = ((mean @ self.psi_inverse) * mean).sum(-1)
        trace = trace_s + trace_mean - (a_s_a + (a * mean).sum(-1).square()) / c
        logdet_s = 2.0 * torch.log(torch.diagonal(scale_tril, dim1=-2, dim2=-1)).sum(-1)
        kl_latent = 0.5 * (nu_post * trace + self.logdet_psi + torch.log(c) - logdet_s + self.latent_constant)
        kl_hyperprior = self.nu / 2 * torch.log(c) - nu_post / 2 * (c - 1.0) / c + self.hyper_constant
        return kl_latent, kl_hyperprior

    def loss(self, x):
        mean, scale_tril = self.posterior(self.encoder(x))
        z = mean + torch.einsum("bij,bj->bi", scale_tril, torch.randn_like(mean))
        z_tilde = mean + torch.einsum("bij,bj->bi", scale_tril, torch.randn_like(mean))
        kl_latent, kl_hyperprior = self.kl_terms(mean, scale_tril, z_tilde)
        return (bernoulli_nll(x, self.decoder(z)) + kl_latent + kl_hyperprior).mean()


MODELS = {"chyvae": ReferenceCHyVAE, "vae": ReferenceVAE}


def make_step(model, learning_rate=1e-4, compile=False):
    """One Adam step on a (B, C, H, W) batch; ``compile``: the step under torch.compile."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)

    def step(x):
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(x)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return torch.compile(step) if compile else step


def check_against_hwkeras(latent=4, nu=20.0, batch=5):
    """The KL terms against hwkeras.priors (torch backend, float64 oracle inside), and the parameter
    counts against the Keras models. Raises AssertionError."""
    import keras

    import hwkeras
    from hwkeras import priors

    reference = ReferenceCHyVAE(latent=latent, nu=nu, side=32, hidden=32)
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(batch, latent, generator=generator)
    mean_p, scale_tril = reference.posterior(torch.randn(batch, 32, generator=generator))
    z = mean + torch.randn(batch, latent, generator=generator)
    psi = priors.prior_scale(nu, latent)
    ours = reference.kl_terms(mean, scale_tril, z)
    theirs = (priors.kl_latent(mean, scale_tril, z, psi, nu), priors.kl_hyperprior(z, psi, nu))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), keras.ops.convert_to_numpy(b), rtol=1e-4, atol=1e-4)
    for name, keras_class in (("chyvae", hwkeras.HyperpriorVAE), ("vae", hwkeras.VAE)):
        keras_model = keras_class(latent_dim=10, image_shape=(64, 64, 1), hidden_units=128)
        torch_count = sum(p.numel() for p in MODELS[name]().parameters())
        assert torch_count == keras_model.count_params(), (name, torch_count, keras_model.count_params())
