"""PULSE (Menon et al., CVPR 2020): upsample a face by searching StyleGAN's latent space for a
face whose bicubic downscale matches the input.

The search follows the paper and its official code (github.com/adamian98/pulse), defaults
included: 18 latent vectors v drawn from N(0, I) (each keeps its norm: a spherical optimiser
projects them back onto their sphere after every Adam step), fed to the synthesis as
``w = leaky_relu(v * std + mean, 0.2)`` where mean and std (``gaussian_fit.pt``) are those of
the mapping network's outputs with their final leaky ReLU undone (slope 5), noise inputs drawn
once (the first 5 trained on the sphere too, layer 17 zeroed), loss
``100 * max(L2(D(G(w)), lr), eps) + 0.05 * GEOCROSS`` where D is PULSE's bicubic downscaler
(a = -0.5, reflected border) and GEOCROSS the mean squared geodesic distance between the 18
latent vectors, learning rate 0.4 on the one-cycle-then-drop schedule.

PULSE invents a plausible face that downscales to the input; it does not recover the person's
identity. :func:`pulse` says whether the result matches within ``eps``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from photomend.errors import InputError
from photomend.faces.stylegan import LATENT, NUM_LAYERS, Mapping, Synthesis, noise_shapes
from photomend.nn.torch_export import check_layout, load_torch_file

DEFAULT_LOSS = "100*L2+0.05*GEOCROSS"
DEFAULT_EPS = 2e-3
IDENTITY_NOTE = ("PULSE invents a plausible face that downscales to the input; it is not the "
                 "person's face and does not preserve identity")
SCHEDULES = ("fixed", "linear1cycle", "linear1cycledrop")
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "adamax": torch.optim.Adamax}


# ---------------------------------------------------------------------------------- layouts


def load_synthesis(path: str | Path, resolution: int = 1024) -> Synthesis:
    """PULSE's ``synthesis.pt`` (a state dict) in :class:`Synthesis`, layout checked."""
    net = Synthesis(resolution)
    state = load_torch_file(Path(path), "synthesis.pt")
    check_layout(state, net.state_dict(), "synthesis.pt")
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


def load_mapping(path: str | Path) -> Mapping:
    """PULSE's ``mapping.pt`` (a state dict) in :class:`Mapping`, layout checked."""
    net = Mapping()
    state = load_torch_file(Path(path), "mapping.pt")
    check_layout(state, net.state_dict(), "mapping.pt")
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


def load_gaussian_fit(path: str | Path) -> dict[str, torch.Tensor]:
    """PULSE's ``gaussian_fit.pt``: {"mean": (512,), "std": (512,)} (saved on CUDA; read on
    the CPU)."""
    state = load_torch_file(Path(path), "gaussian_fit.pt")
    check_layout(state, {"mean": torch.zeros(LATENT), "std": torch.zeros(LATENT)},
                 "gaussian_fit.pt")
    return {k: state[k].float() for k in ("mean", "std")}


@torch.no_grad()
def gaussian_fit(mapping: Mapping, *, samples: int = 1_000_000, seed: int = 0,
                 chunk: int = 50_000) -> dict[str, torch.Tensor]:
    """The fit PULSE computes when ``gaussian_fit.pt`` is missing: mean and std of
    ``leaky_relu(mapping(z), 5)`` over ``samples`` z ~ N(0, I) (the 5 undoes the mapping's final
    leaky ReLU of slope 0.2). Chunked, so it runs in little memory (same numbers up to float
    summation order)."""
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(LATENT, dtype=torch.float64)
    total2 = torch.zeros(LATENT, dtype=torch.float64)
    done = 0
    while done < samples:
        n = min(chunk, samples - done)
        w = F.leaky_relu(mapping(torch.randn(n, LATENT, generator=gen)), 5.0).double()
        total += w.sum(0)
        total2 += (w * w).sum(0)
        done += n
    mean = total / samples
    var = (total2 - samples * mean * mean) / (samples - 1)
    return {"mean": mean.float(), "std": var.clamp_min(0).sqrt().float()}


# ---------------------------------------------------------------------------- the pieces
def bicubic_kernel(factor: int, a: float = -0.5) -> torch.Tensor:
    """PULSE's 1-D downscaling kernel: 4 x factor taps of the bicubic (a = -0.5) at
    ``(i - 2 factor + 0.5) / factor``, normalised.

    >>> [round(v, 4) for v in bicubic_kernel(1).tolist()]
    [-0.0625, 0.5625, 0.5625, -0.0625]
    """
    size = 4 * factor
    x = (torch.arange(size, dtype=torch.float64) - size // 2 + 0.5) / factor
    ax = x.abs()
    k = torch.where(ax <= 1, (a + 2) * ax ** 3 - (a + 3) * ax ** 2 + 1,
                    torch.where(ax < 2, a * ax ** 3 - 5 * a * ax ** 2 + 8 * a * ax - 4 * a,
                                torch.zeros_like(ax)))
    return (k / k.sum()).float()


def downscale(x: torch.Tensor, factor: int) -> torch.Tensor:
    """PULSE's bicubic downscale of (B, 3, H, W) by ``factor``: separable, stride ``factor``,
    reflected padding of 3 x factor split as (1.5, 1.5) x factor."""
    if factor == 1:
        return x
    k = bicubic_kernel(factor).to(x)
    size, pad = 4 * factor, 3 * factor
    top, bottom = pad // 2, pad - pad // 2
    c = x.size(1)
    x = F.pad(x, (0, 0, top, bottom), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, size, 1).expand(c, 1, size, 1), stride=(factor, 1), groups=c)
    x = F.pad(x, (top, bottom, 0, 0), mode="reflect")
    return F.conv2d(x, k.view(1, 1, 1, size).expand(c, 1, 1, size), stride=(1, factor),
                    groups=c)


def geocross(latent: torch.Tensor) -> torch.Tensor:
    """GEOCROSS: for each of the B latents (B, 18, 512), 512/8 x the mean over the 18 x 18
    pairs of the squared angle between them (2 atan2(|x - y|, |x + y|)), summed over B."""
    if latent.shape[1] == 1:
        return latent.new_zeros(())
    x = latent.view(-1, 1, latent.shape[1], LATENT)
    y = latent.view(-1, latent.shape[1], 1, LATENT)
    a = ((x - y).pow(2).sum(-1) + 1e-9).sqrt()
    b = ((x + y).pow(2).sum(-1) + 1e-9).sqrt()
    d = 2 * torch.atan2(a, b)
    return ((d.pow(2) * LATENT).mean((1, 2)) / 8.0).sum()


class SphericalOptimizer:
    """Wraps a torch optimiser: after each step every parameter is scaled back to the norm it
    had at the start (norm over all dimensions but the first two)."""

    def __init__(self, optimizer, params: list[torch.Tensor], **kwargs):
        self.opt = optimizer(params, **kwargs)
        self.params = params
        with torch.no_grad():
            self.radii = [self._norm(p) for p in params]

    @staticmethod
    def _norm(p: torch.Tensor) -> torch.Tensor:
        return (p.pow(2).sum(tuple(range(2, p.ndim)), keepdim=True) + 1e-9).sqrt()

    @torch.no_grad()
    def step(self) -> None:
        self.opt.step()
        for p, r in zip(self.params, self.radii):
            p.div_(self._norm(p))
            p.mul_(r)


def schedule(name: str, steps: int):
    """Learning-rate factor at step x: PULSE's three schedules."""
    if name == "fixed":
        return lambda x: 1.0
    if name == "linear1cycle":
        return lambda x: (9 * (1 - abs(x / steps - 1 / 2) * 2) + 1) / 10
    if name == "linear1cycledrop":
        return lambda x: ((9 * (1 - abs(x / (0.9 * steps) - 1 / 2) * 2) + 1) / 10
                          if x < 0.9 * steps
                          else 1 / 10 + (x - 0.9 * steps) / (0.1 * steps) * (1 / 1000 - 1 / 10))
    raise InputError(f"unknown schedule {name!r}: choose one of {', '.join(SCHEDULES)}")


def parse_loss(text: str) -> list[tuple[float, str]]:
    """``"100*L2+0.05*GEOCROSS"`` -> [(100.0, "L2"), (0.05, "GEOCROSS")]."""
    terms = []
    for term in text.split("+"):
        weight, _, name = term.strip().partition("*")
        if name not in ("L2", "L1", "GEOCROSS"):
            raise InputError(f"unknown loss term {term!r}: use weights times L2, L1 or GEOCROSS")
        terms.append((float(weight), name))
    return terms


# ---------------------------------------------------------------------------- the search
@dataclass
class PulseState:
    """The variables of a search: latent (B, 18 or 1, 512), the 18 noise tensors, and which
    of them are optimised."""

    latent: torch.Tensor
    noise: list[torch.Tensor]
    trainable: list[torch.Tensor]


def init_state(batch: int, *, seed: int | None, noise_type: str = "trainable",
               trainable_noise_layers: int = 5, bad_noise_layers: tuple[int, ...] = (17,),
               tile_latent: bool = False) -> PulseState:
    """The latent and noise draws, in PULSE's order (latent first, then noise layer by layer,
    zeroed layers drawing nothing), from ``torch.manual_seed(seed)`` when a seed is given."""
    if seed:
        torch.manual_seed(seed)
    latent = torch.randn((batch, 1 if tile_latent else NUM_LAYERS, LATENT), requires_grad=True)
    noise, trainable = [], []
    for i, shape in enumerate(noise_shapes(batch)):
        if noise_type == "zero" or i in bad_noise_layers:
            n = torch.zeros(shape)
        elif noise_type in ("fixed", "trainable"):
            n = torch.randn(shape)
            if noise_type == "trainable" and i < trainable_noise_layers:
                n.requires_grad_(True)
                trainable.append(n)
        else:
            raise InputError(f"unknown noise type {noise_type!r}: zero, fixed or trainable")
        noise.append(n)
    return PulseState(latent, noise, trainable)


def generate(synthesis: Synthesis, fit: dict, latent: torch.Tensor,
             noise: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, image in [0, 1]) for a latent on PULSE's sphere."""
    lat = latent.expand(-1, NUM_LAYERS, -1) if latent.shape[1] == 1 else latent
    w = F.leaky_relu(lat * fit["std"] + fit["mean"], 0.2)
    return w, (synthesis(w, noise) + 1) / 2


def losses(terms, w: torch.Tensor, image: torch.Tensor, ref: torch.Tensor, eps: float
           ) -> tuple[torch.Tensor, dict]:
    """PULSE's loss and its terms (L2 and L1 per image clamped below at eps, summed)."""
    factor = image.shape[-1] // ref.shape[-1]
    low = downscale(image, factor)
    parts = {}
    total = 0.0
    for weight, name in terms:
        if name == "L2":
            v = (low - ref).pow(2).mean((1, 2, 3)).clamp(min=eps).sum()
        elif name == "L1":
            v = 10 * (low - ref).abs().mean((1, 2, 3)).clamp(min=eps).sum()
        else:
            v = geocross(w)
        parts[name] = v
        total = total + weight * v
    return total, parts


@dataclass
class PulseResult:
    """image: float32 1024x1024x3 in [0, 1] (the lowest-loss face); downscaled: its downscale
    at the input's size; l2: the mean squared difference of that downscale from the input;
    matched: l2 <= eps; best_step, steps, seconds, it_per_s; note: PULSE's identity caveat."""

    image: np.ndarray
    downscaled: np.ndarray
    l2: float
    matched: bool
    eps: float
    best_step: int
    steps: int
    seconds: float
    note: str = IDENTITY_NOTE

    @property
    def it_per_s(self) -> float:
        return self.steps / max(self.seconds, 1e-9)


def search(synthesis: Synthesis, fit: dict, ref: torch.Tensor, *, steps: int = 100,
           eps: float = DEFAULT_EPS, seed: int | None = None, loss: str = DEFAULT_LOSS,
           noise_type: str = "trainable", trainable_noise_layers: int = 5,
           bad_noise_layers: tuple[int, ...] = (17,), tile_latent: bool = False,
           optimizer: str = "adam", learning_rate: float = 0.4,
           lr_schedule: str = "linear1cycledrop", on_step=None) -> dict:
    """PULSE's optimisation loop on ``ref`` (B, 3, h, h) in [0, 1]. ``on_step(j, state, loss,
    parts)`` is called after each step. Returns the best image (lowest total loss), its
    step, and the lowest L2 seen."""
    terms = parse_loss(loss)
    if optimizer not in OPTIMIZERS:
        raise InputError(f"unknown optimizer {optimizer!r}: {', '.join(OPTIMIZERS)}")
    state = init_state(ref.shape[0], seed=seed, noise_type=noise_type,
                       trainable_noise_layers=trainable_noise_layers,
                       bad_noise_layers=bad_noise_layers, tile_latent=tile_latent)
    opt = SphericalOptimizer(OPTIMIZERS[optimizer], [state.latent, *state.trainable],
                             lr=learning_rate)
    sched = torch.optim.lr_scheduler.LambdaLR(opt.opt, schedule(lr_schedule, steps))
    best = {"loss": float("inf"), "image": None, "step": -1, "min_l2": float("inf")}
    for j in range(steps):
        opt.opt.zero_grad()
        w, image = generate(synthesis, fit, state.latent, state.noise)
        total, parts = losses(terms, w, image, ref, eps)
        value = total.detach().item()
        if value < best["loss"]:
            best.update(loss=value, image=image.detach().clone(), step=j)
        if "L2" in parts:
            best["min_l2"] = min(best["min_l2"], parts["L2"].detach().item())
        total.backward()
        opt.step()
        sched.step()
        if on_step is not None:
            on_step(j, state, value, {k: float(v.detach()) for k, v in parts.items()})
    return best


def pulse(lr_face: np.ndarray, *, steps: int = 100, eps: float = DEFAULT_EPS,
          seed: int | None = None, weights: dict | None = None, loss: str = DEFAULT_LOSS,
          learning_rate: float = 0.4, lr_schedule: str = "linear1cycledrop",
          noise_type: str = "trainable", trainable_noise_layers: int = 5,
          tile_latent: bool = False) -> PulseResult:
    """A 1024 px face whose PULSE downscale matches ``lr_face``.

    Parameters
    ----------
    lr_face : float32 hxhx3 in [0, 1], an FFHQ-aligned face (see
        :func:`photomend.faces.align_faces`) whose side divides 1024 (16, 32, 64, 128 ...).
    steps, eps, seed : PULSE's number of Adam steps, L2 target and random seed.
    weights : {"synthesis": Synthesis, "fit": gaussian fit}; default: the installed
        ``pulse-stylegan-ffhq`` models (:func:`installed_weights`).

    The result's ``matched`` says whether its downscale is within ``eps`` of the input (PULSE
    prints "Could not find a face that downscales correctly within epsilon" otherwise). The
    face is invented: see ``IDENTITY_NOTE``.
    """
    lr = np.asarray(lr_face, np.float32)
    if lr.ndim != 3 or lr.shape[2] != 3 or lr.shape[0] != lr.shape[1]:
        raise InputError(f"lr_face must be a square hxhx3 image, got shape {lr.shape}")
    weights = weights or installed_weights()
    res = weights["synthesis"].resolution
    side = lr.shape[0]
    if side > res or res % side:
        raise InputError(f"lr_face's side ({side}) must divide {res} (16, 32, 64, 128 ...)")
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    if eps <= 0:
        raise InputError(f"eps must be > 0, got {eps}")
    ref = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1)))[None]
    t0 = time.perf_counter()
    best = search(weights["synthesis"], weights["fit"], ref, steps=steps, eps=eps, seed=seed,
                  loss=loss, learning_rate=learning_rate, lr_schedule=lr_schedule,
                  noise_type=noise_type, trainable_noise_layers=trainable_noise_layers,
                  tile_latent=tile_latent)
    seconds = time.perf_counter() - t0
    image = best["image"].clamp(0, 1)
    low = downscale(image, res // side)
    l2 = float((low - ref).pow(2).mean())
    to_np = lambda t: t[0].permute(1, 2, 0).numpy().astype(np.float32)  # noqa: E731
    return PulseResult(to_np(image), to_np(low.clamp(0, 1)), l2, l2 <= eps, eps, best["step"],
                       steps, seconds)


def installed_weights() -> dict:
    """The installed PULSE StyleGAN (``pulse-stylegan-ffhq``) and its Gaussian fit
    (``pulse-gaussian-fit``, 4.5 kB: ``photomend models fetch pulse-gaussian-fit``). Without
    the published fit, :func:`gaussian_fit` recomputes it from the mapping network
    (``pulse-stylegan-ffhq-mapping``) as PULSE does, which takes minutes on a CPU."""
    from photomend import zoo

    synthesis = load_synthesis(zoo.model_path("pulse-stylegan-ffhq"))
    return {"synthesis": synthesis, "fit": load_gaussian_fit(zoo.model_path("pulse-gaussian-fit"))}
