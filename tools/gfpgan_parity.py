"""Parity of photomend's GFPGAN (photomend.faces.gfpgan_arch, and the ONNX file its import
writes) with the official code, on random weights.

    git clone https://github.com/TencentARC/GFPGAN /tmp/gfpgan   # read and run only
    python tools/gfpgan_parity.py --gfpgan-repo /tmp/gfpgan [--size 512]

The official ``gfpganv1_clean_arch.py`` and ``stylegan2_clean_arch.py`` are loaded from their
files with two stand-ins for basicsr (its registry decorator and ``default_init_weights``,
which only initialises). A random GFPGANv1Clean of the published configuration (v1.3 / v1.4:
channel_multiplier 2, different_w, input_is_latent, sft_half; PyTorch's default init plus
N(0, 0.05) on every parameter, so that biases and noise strengths are not zero) is saved as ``{"params_ema": state_dict}`` like the release files, imported with
photomend's converter (layout check + ONNX export), and run on the same random face by the
official model (``randomize_noise=False``: its stored noise), photomend's torch model and the
ONNX file under ONNX Runtime.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from photomend.faces import gfpgan  # noqa: E402
from photomend.faces.gfpgan_arch import GFPGANv1Clean  # noqa: E402


def load_official(repo: Path):
    registry = types.SimpleNamespace(register=lambda: (lambda cls: cls))
    stubs = {"basicsr": types.ModuleType("basicsr"),
             "basicsr.utils": types.ModuleType("basicsr.utils"),
             "basicsr.utils.registry": types.SimpleNamespace(ARCH_REGISTRY=registry),
             "basicsr.archs": types.ModuleType("basicsr.archs"),
             "basicsr.archs.arch_util": types.SimpleNamespace(
                 default_init_weights=lambda *a, **k: None)}
    sys.modules.update(stubs)
    pkg = types.ModuleType("gfpgan_official")
    pkg.__path__ = []
    sys.modules["gfpgan_official"] = pkg
    mods = {}
    for name in ("stylegan2_clean_arch", "gfpganv1_clean_arch"):
        path = repo / "gfpgan" / "archs" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"gfpgan_official.{name}", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[f"gfpgan_official.{name}"] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod
    return mods["gfpganv1_clean_arch"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gfpgan-repo", type=Path, required=True)
    p.add_argument("--size", type=int, default=512, help="face side (published: 512)")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--moderate", action="store_true",
                   help="perturb only the biases, noise strengths and other 1-d parameters, "
                   "so that the output stays about [-1, 1] (absolute differences mean "
                   "something); default: every parameter (outputs grow to ~1e32)")
    args = p.parse_args(argv)
    official = load_official(args.gfpgan_repo)
    torch.manual_seed(0)
    ref = official.GFPGANv1Clean(out_size=args.size, num_style_feat=512, channel_multiplier=2,
                                 decoder_load_path=None, fix_decoder=False, num_mlp=8,
                                 input_is_latent=True, different_w=True, narrow=1,
                                 sft_half=True).eval()
    with torch.no_grad():  # PyTorch's default init, then every parameter moved off zero
        for name, t in ref.named_parameters():
            if not args.moderate or t.dim() <= 1 or "bias" in name:
                t.add_(torch.randn(t.shape) * 0.05)
    x = torch.rand(1, 3, args.size, args.size) * 2 - 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "GFPGANv1.4.pth", Path(tmp) / "gfpgan.onnx"
        torch.save({"params_ema": ref.state_dict()}, src)
        t = time.perf_counter()
        gfpgan.convert_checkpoint(src, dst, size=args.size)
        print(f"import (layout check + ONNX export): {time.perf_counter() - t:.1f} s")
        mine = GFPGANv1Clean(args.size)
        mine.load_state_dict(torch.load(src, weights_only=True)["params_ema"])
        mine.eval()
        with torch.no_grad():
            a = ref(x, return_rgb=False, randomize_noise=False)[0]
            b = mine(x)
        scale = float(a.abs().max())
        rows.append(("torch", float((a - b).abs().max()) / scale,
                     float((a - b).abs().max())))
        sess = gfpgan.session(dst)
        t = time.perf_counter()
        c = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
        print(f"ONNX Runtime, one {args.size} px face: {time.perf_counter() - t:.2f} s")
        rows.append(("ONNX (fp32)", float(np.abs(a.numpy() - c).max()) / scale,
                     float(np.abs(a.numpy() - c).max())))
    init = ("biases and 1-d parameters perturbed" if args.moderate
            else "every parameter perturbed")
    lines = [f"# GFPGAN parity: photomend vs the official GFPGANv1Clean (random weights, "
             f"{init}, {args.size} px, torch {torch.__version__})", "",
             f"Written by tools/gfpgan_parity.py{' --moderate' if args.moderate else ''}. "
             f"Max abs output of the official model: {scale:.3g}.", "",
             "| photomend | max abs difference / max abs output | max abs difference |",
             "|---|---|---|"]
    lines += [f"| {a} | {b:.3g} | {c:.3g} |" for a, b, c in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0 if max(r[1] for r in rows) < 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
