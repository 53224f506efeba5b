"""Parity of photomend's LaMa generator with the official one, on the same random weights.

Usage (the official repository is read, never copied into photomend)::

    git clone https://github.com/advimman/lama /path/to/lama   # any checkout
    python tools/lama_parity.py /path/to/lama

It builds ``FFCResNetGenerator`` from the official source with the generator section of
``configs/training/big-lama.yaml``, gives it seeded random weights (BatchNorm statistics
randomised too), saves them as a Lightning-style checkpoint (``state_dict`` with
``generator.model.<i>…`` keys), loads that file through photomend's loader, and compares both
networks' outputs on the same random inputs. Exit status 0 when every max |diff| <= 1e-5.

The official package imports kornia and pytorch-lightning at module level for parts LaMa's
generator does not use; stand-in modules are installed for those two imports only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
import yaml

from photomend.lama.config import LamaConfig, first_mismatch, infer_config
from photomend.lama.loading import load_generator
from photomend.lama.synthetic import randomise_norms

TOLERANCE = 1e-5


def _official_generator_class(repo: Path):
    for name, attrs in [("kornia", {}), ("kornia.geometry", {}),
                        ("kornia.geometry.transform", {"rotate": None}),
                        ("pytorch_lightning", {"seed_everything": None})]:
        if name not in sys.modules:
            mod = types.ModuleType(name)
            mod.__dict__.update(attrs)
            sys.modules[name] = mod
    sys.path.insert(0, str(repo))
    from saicinpainting.training.modules.ffc import FFCResNetGenerator

    return FFCResNetGenerator


def _generator_kwargs(repo: Path) -> dict:
    """The generator section of big-lama.yaml with its ${…} references resolved."""
    cfg = yaml.safe_load((repo / "configs/training/big-lama.yaml").read_text())["generator"]
    init = cfg["init_conv_kwargs"]
    down = dict(cfg["downsample_conv_kwargs"])
    down["ratio_gin"] = init["ratio_gout"]  # ${generator.init_conv_kwargs.ratio_gout}
    down["ratio_gout"] = down["ratio_gin"]  # ${generator.downsample_conv_kwargs.ratio_gin}
    res = dict(cfg["resnet_conv_kwargs"])
    res["ratio_gout"] = res["ratio_gin"]  # ${generator.resnet_conv_kwargs.ratio_gin}
    assert cfg.pop("kind") == "ffc_resnet"
    cfg.update(init_conv_kwargs=init, downsample_conv_kwargs=down, resnet_conv_kwargs=res)
    return cfg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", type=Path, help="a checkout of github.com/advimman/lama")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="256x256,512x512,200x328",
                        help="input sizes HxW (multiples of 8), comma-separated")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)

    kwargs = _generator_kwargs(args.repo)
    print(f"official config (configs/training/big-lama.yaml): {kwargs}")
    torch.manual_seed(args.seed)
    official = _official_generator_class(args.repo)(**kwargs).eval()
    state = official.state_dict()
    randomise_norms(state, seed=args.seed)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    cfg = infer_config(shapes)
    n_params = sum(v.numel() for k, v in state.items()
                   if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    print(f"official state dict: {len(state)} tensors, {n_params:,} parameters; "
          f"photomend reads it as {cfg}")
    print(f"key/shape check against photomend's Big-LaMa: "
          f"{first_mismatch(shapes, LamaConfig()) or 'identical (names, shapes, order)'}")

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "best.ckpt"
        torch.save({"state_dict": {f"generator.{k}": v for k, v in state.items()}}, ckpt)
        mine = load_generator(ckpt)

    worst = 0.0
    g = torch.Generator().manual_seed(args.seed + 100)
    for size in args.sizes.split(","):
        h, w = map(int, size.split("x"))
        image = torch.rand(1, 3, h, w, generator=g)
        mask = (torch.rand(1, 1, h, w, generator=g) > 0.7).float()
        x = torch.cat([image * (1 - mask), mask], dim=1)
        with torch.inference_mode():
            t0 = time.perf_counter()
            ref = official(x)
            t1 = time.perf_counter()
            out = mine(x)
            t2 = time.perf_counter()
        diff = (ref - out).abs().max().item()
        worst = max(worst, diff)
        print(f"{h}x{w}: max |official - photomend| = {diff:.3e}  "
              f"(output range {ref.min().item():.3f}..{ref.max().item():.3f}; "
              f"official {t1 - t0:.2f} s, photomend {t2 - t1:.2f} s)")
    ok = worst <= TOLERANCE
    print(f"{'PASS' if ok else 'FAIL'}: worst max abs diff {worst:.3e} (tolerance {TOLERANCE:g})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
