"""Parity of photomend's PULSE (photomend.faces.pulse_search / stylegan) with the official code, on
random weights, same seed.

    git clone https://github.com/adamian98/pulse /tmp/pulse   # read and run only, never vendored
    python tools/pulse_parity.py --pulse-repo /tmp/pulse [--resolution 64] [--full]

The official modules are imported from their own files with the minimum of source patches to
run on a CPU (``.cuda()`` and ``device='cuda'`` removed, ``BicubicDownSample(cuda=False)``)
and, for a generator smaller than 1024 px, ``LossBuilder``'s hard-coded 1024 replaced by the
generator's side. Random weights (every parameter ~N(0, 1), seeded) are written in the
published layout (``synthesis.pt``, ``mapping.pt``) and read back through photomend's loaders.

Checks: the mapping network (same z), the synthesis (same w and noise; at 1024 px with
``--full``), and PULSE's search (same seed: latent and noise draws, then the loss and the
optimised variables after the first and second Adam steps on the sphere). Prints a table;
``--out FILE.md`` also writes it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from photomend.faces import pulse_search as ours  # noqa: E402
from photomend.faces.stylegan import Mapping, Synthesis  # noqa: E402


def load_official(repo: Path, resolution: int) -> types.SimpleNamespace:
    """The official stylegan, bicubic, loss, SphericalOptimizer and PULSE modules, CPU-patched."""
    patches = {
        "bicubic.py": [("cuda=True", "cuda=False")],
        "loss.py": [("factor=1024//im_size", f"factor={resolution}//im_size"),
                    ("assert im_size*factor==1024", f"assert im_size*factor=={resolution}")],
        "PULSE.py": [("device='cuda'", "device='cpu'"), (".cuda()", ""),
                     ("from drive import open_url", "open_url = None")],
    }
    mods = {}
    sys.path.insert(0, str(repo))
    for name in ("stylegan", "bicubic", "loss", "SphericalOptimizer", "PULSE"):
        src = (repo / f"{name}.py").read_text()
        for old, new in patches.get(f"{name}.py", []):
            if old not in src:
                raise SystemExit(f"{name}.py: cannot patch {old!r} (another version?)")
            src = src.replace(old, new)
        spec = importlib.util.spec_from_loader(name, loader=None)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        exec(compile(src, str(repo / f"{name}.py"), "exec"), mod.__dict__)
        mods[name] = mod
    return types.SimpleNamespace(**mods)


def randomise(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * (0.5 if p.ndim == 1 else 1.0))


def diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach() - b.detach()).abs().max())


def check_mapping(off, tmp: Path) -> list[tuple[str, str, float]]:
    ref = off.stylegan.G_mapping()
    randomise(ref, 1)
    torch.save(ref.state_dict(), tmp / "mapping.pt")
    mine = ours.load_mapping(tmp / "mapping.pt")
    z = torch.randn(256, 512, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        return [("mapping", "w for 256 z", diff(ref(z), mine(z)))]


def check_synthesis(off, tmp: Path, resolution: int) -> tuple[list, object]:
    ref = off.stylegan.G_synthesis(resolution=resolution)
    randomise(ref, 3)
    path = tmp / f"synthesis_{resolution}.pt"
    torch.save(ref.state_dict(), path)
    mine = ours.load_synthesis(path, resolution)
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(1, 18, 512, generator=gen)
    noise = [torch.randn(s, generator=gen) for s in
             [(1, 1, 2 ** (i // 2 + 2), 2 ** (i // 2 + 2)) for i in range(18)]]
    t = time.perf_counter()
    with torch.no_grad():
        a = ref(w, noise)
        t_ref = time.perf_counter() - t
        t = time.perf_counter()
        b = mine(w, noise)
        t_mine = time.perf_counter() - t
    rel = diff(a, b) / float(a.abs().max())
    print(f"synthesis {resolution}px: official {t_ref:.2f} s, photomend {t_mine:.2f} s")
    return [(f"synthesis {resolution} px", "image (max abs diff / max abs image)", rel)], ref


def check_search(off, tmp: Path, ref_synth, resolution: int, seed: int, steps: int) -> list:
    fit = {"mean": torch.randn(512, generator=torch.Generator().manual_seed(5)) * 0.3,
           "std": torch.rand(512, generator=torch.Generator().manual_seed(6)) + 0.2}
    torch.save(fit, tmp / "gaussian_fit.pt")
    fit_mine = ours.load_gaussian_fit(tmp / "gaussian_fit.pt")
    synth_mine = ours.load_synthesis(tmp / f"synthesis_{resolution}.pt", resolution)
    side = resolution // 4
    lr = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(7))

    # the official loop, with its optimiser's variables recorded after every step
    recorded = []
    base = off.SphericalOptimizer.SphericalOptimizer

    class Recording(base):
        def step(self, closure=None):
            out = super().step(closure)
            recorded.append([p.detach().clone() for p in self.params])
            return out

    off.PULSE.SphericalOptimizer = Recording
    model = off.PULSE.PULSE.__new__(off.PULSE.PULSE)
    torch.nn.Module.__init__(model)
    model.synthesis = ref_synth.requires_grad_(False)
    model.verbose = False
    model.lrelu = torch.nn.LeakyReLU(negative_slope=0.2)
    model.gaussian_fit = fit
    losses_ref = []
    orig_forward = off.loss.LossBuilder.forward

    def forward(self, latent, gen_im):
        loss, parts = orig_forward(self, latent, gen_im)
        losses_ref.append(float(loss.detach()))
        return loss, parts

    off.loss.LossBuilder.forward = forward
    kwargs = dict(seed=seed, loss_str="100*L2+0.05*GEOCROSS", eps=2e-3, noise_type="trainable",
                  num_trainable_noise_layers=5, tile_latent=False, bad_noise_layers="17",
                  opt_name="adam", learning_rate=0.4, steps=steps,
                  lr_schedule="linear1cycledrop", save_intermediate=False)
    for _ in model(lr, **kwargs):
        pass

    mine_states, losses_mine = [], []

    def on_step(j, state, loss, parts):
        mine_states.append([state.latent.detach().clone(),
                            *[n.detach().clone() for n in state.trainable]])
        losses_mine.append(loss)

    ours.search(synth_mine, fit_mine, lr, steps=steps, eps=2e-3, seed=seed, on_step=on_step)
    rows = []
    for j in range(steps):
        rows.append((f"search step {j + 1}", "loss before the step (relative)",
                     abs(losses_ref[j] - losses_mine[j]) / abs(losses_ref[j])))
        rows.append((f"search step {j + 1}", "latent after the step",
                     diff(recorded[j][0], mine_states[j][0])))
        rows.append((f"search step {j + 1}", "trainable noise after the step",
                     max(diff(a, b) for a, b in zip(recorded[j][1:], mine_states[j][1:]))))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pulse-repo", type=Path, required=True, help="official PULSE checkout")
    p.add_argument("--resolution", type=int, default=64, help="generator side of the search")
    p.add_argument("--full", action="store_true", help="also the synthesis at 1024 px")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    off = load_official(args.pulse_repo, args.resolution)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows += check_mapping(off, tmp)
        r, ref_synth = check_synthesis(off, tmp, args.resolution)
        rows += r
        rows += check_search(off, tmp, ref_synth, args.resolution, args.seed, args.steps)
        if args.full:
            rows += check_synthesis(off, tmp, 1024)[0]
    lines = [f"# PULSE parity: photomend vs the official code (random weights, seed "
             f"{args.seed}, torch {torch.__version__}, CPU)", "",
             "Written by tools/pulse_parity.py. Max absolute difference unless stated.", "",
             "| check | quantity | difference |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c:.3g} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    worst = max(c for _, _, c in rows)
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
