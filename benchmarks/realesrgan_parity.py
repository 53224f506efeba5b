"""Do photomend's ONNX conversions of Real-ESRGAN checkpoints compute what the official modules do?

The official weights cannot be downloaded here, so this builds the official PyTorch modules
(BasicSR ``RRDBNet``, Real-ESRGAN ``SRVGGNetCompact``) from their source — a checkout you
fetched, never copied into photomend — with random weights, saves them as ``.pth`` files with
exactly the published key names and shapes (``params_ema`` / ``params``), converts them with
``photomend.upscaling.realesrgan`` and compares ONNX Runtime's output with PyTorch's.

    python benchmarks/realesrgan_parity.py --basicsr PATH/TO/BasicSR --realesrgan PATH/TO/Real-ESRGAN
    python benchmarks/realesrgan_parity.py --basicsr ... --realesrgan ... --make-test-fixture

Needs torch (``pip install torch==2.13.0``). Writes ``benchmarks/results_realesrgan_parity.md``;
the second form writes ``tests/data/realesrgan_tiny/`` (small checkpoints saved by torch, an
input and the official modules' outputs) for ``tests/test_upscale_published.py``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "data" / "realesrgan_tiny"


def load_reference(basicsr: Path, realesrgan: Path) -> types.SimpleNamespace:
    """The official ``RRDBNet`` and ``SRVGGNetCompact`` classes, built from the two checkouts
    without importing the packages (their registries pull in many dependencies)."""
    import torch  # noqa: F401

    def strip(src: str) -> str:
        src = re.sub(r"^from basicsr\.utils\.registry import ARCH_REGISTRY\n", "", src, flags=re.MULTILINE)
        return re.sub(r"^@ARCH_REGISTRY\.register\(\)\n", "", src, flags=re.MULTILINE)

    util_src = (basicsr / "basicsr/archs/arch_util.py").read_text()
    util = types.ModuleType("ref_arch_util")
    exec_src = "import math\nimport torch\nfrom torch import nn as nn\nfrom torch.nn import init " \
               "as init\nfrom torch.nn.modules.batchnorm import _BatchNorm\n"
    for fn in ("default_init_weights", "make_layer", "pixel_unshuffle"):
        match = re.search(r"(@torch\.no_grad\(\)\n)?def %s\(.*?(?=\n\n\n)" % fn, util_src, re.DOTALL)
        exec_src += match.group(0) + "\n\n\n"
    exec(compile(exec_src, "arch_util.py", "exec"), util.__dict__)
    sys.modules["ref_arch_util"] = util

    rrdb = types.ModuleType("ref_rrdbnet")
    src = strip((basicsr / "basicsr/archs/rrdbnet_arch.py").read_text())
    src = src.replace("from .arch_util import", "from ref_arch_util import")
    exec(compile(src, "rrdbnet_arch.py", "exec"), rrdb.__dict__)
    srvgg = types.ModuleType("ref_srvgg")
    src = strip((realesrgan / "realesrgan/archs/srvgg_arch.py").read_text())
    exec(compile(src, "srvgg_arch.py", "exec"), srvgg.__dict__)
    return types.SimpleNamespace(RRDBNet=rrdb.RRDBNet, SRVGGNetCompact=srvgg.SRVGGNetCompact)


def configs(ref):
    from photomend.upscaling import realesrgan as R

    return {
        # name: (official module, photomend arch, checkpoint key) — as in inference_realesrgan.py
        "RealESRGAN_x4plus": (lambda: ref.RRDBNet(3, 3, num_feat=64, num_block=23,
                                                  num_grow_ch=32, scale=4),
                              R.RRDBNetArch(scale=4), "params_ema"),
        "RealESRGAN_x2plus": (lambda: ref.RRDBNet(3, 3, num_feat=64, num_block=23,
                                                  num_grow_ch=32, scale=2),
                              R.RRDBNetArch(scale=2), "params_ema"),
        "RealESRGAN_x4plus_anime_6B": (lambda: ref.RRDBNet(3, 3, num_feat=64, num_block=6,
                                                           num_grow_ch=32, scale=4),
                                       R.RRDBNetArch(scale=4, num_block=6), "params_ema"),
        "realesr-general-x4v3": (lambda: ref.SRVGGNetCompact(3, 3, num_feat=64, num_conv=32,
                                                             upscale=4, act_type="prelu"),
                                 R.SRVGGNetArch(scale=4, num_conv=32), "params"),
        "realesr-animevideov3": (lambda: ref.SRVGGNetCompact(3, 3, num_feat=64, num_conv=16,
                                                             upscale=4, act_type="prelu"),
                                 R.SRVGGNetArch(scale=4, num_conv=16), "params"),
    }


def _randomise(net, seed: int, spread: float) -> None:
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * spread)


def compare(ref, out_md: Path) -> None:
    import torch

    from photomend.nn import onnx as nn_onnx
    from photomend.upscaling import realesrgan as R

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (make, arch, key) in configs(ref).items():
            net = make().eval()
            _randomise(net, 0, 0.01)
            sd = net.state_dict()
            same = list(sd) == list(arch.shapes()) and all(
                tuple(v.shape) == arch.shapes()[k] for k, v in sd.items())
            pth, onnx_path = Path(tmp) / f"{name}.pth", Path(tmp) / f"{name}.onnx"
            torch.save({key: sd}, pth)
            R.convert_checkpoint(pth, onnx_path, arch)
            x = torch.rand(1, 3, 24, 20, generator=torch.Generator().manual_seed(1))
            with torch.no_grad():
                expected = net(x).numpy()[0].transpose(1, 2, 0)
            got = nn_onnx.run_image(nn_onnx.session(onnx_path), x.numpy()[0].transpose(1, 2, 0))
            diff = float(np.abs(got - expected).max())
            params = sum(p.numel() for p in net.parameters())
            rows.append((name, params, same, diff, float(np.abs(expected).max())))
            print(name, params, "keys/shapes match" if same else "KEYS DIFFER",
                  f"max|diff| {diff:.2e}")
    lines = [
        "# Real-ESRGAN checkpoints: photomend's ONNX conversion vs the official PyTorch modules",
        "",
        "Command: `python benchmarks/realesrgan_parity.py --basicsr BasicSR --realesrgan "
        "Real-ESRGAN` (random weights: default init + N(0, 0.01); input 24x20 uniform in "
        "[0, 1]; torch " + torch.__version__ + ").",
        "",
        "| checkpoint | parameters | keys and shapes as published | max abs diff | max abs output |",
        "|---|---|---|---|---|",
        *[f"| {n} | {p:,} | {'yes' if s else 'NO'} | {d:.2e} | {m:.2f} |"
          for n, p, s, d, m in rows],
        "",
    ]
    out_md.write_text("\n".join(lines))
    print(f"wrote {out_md}")


def make_fixture(ref) -> None:
    """Small checkpoints (published key names, small sizes) saved by torch + official outputs."""
    import torch

    FIXTURE.mkdir(parents=True, exist_ok=True)
    small = {
        "rrdb_x2": (lambda: ref.RRDBNet(3, 3, num_feat=8, num_block=2, num_grow_ch=4, scale=2),
                    "params_ema"),
        "rrdb_x4": (lambda: ref.RRDBNet(3, 3, num_feat=8, num_block=1, num_grow_ch=4, scale=4),
                    "params"),
        "srvgg_x4": (lambda: ref.SRVGGNetCompact(3, 3, num_feat=8, num_conv=3, upscale=4,
                                                 act_type="prelu"), None),
    }
    x = torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(2))
    np.save(FIXTURE / "input.npy", x.numpy()[0].transpose(1, 2, 0))
    for i, (name, (make, key)) in enumerate(small.items()):
        net = make().eval()
        _randomise(net, 10 + i, 0.05)
        sd = net.state_dict()
        torch.save({key: sd} if key else sd, FIXTURE / f"{name}.pth")
        with torch.no_grad():
            np.save(FIXTURE / f"{name}_output.npy", net(x).numpy()[0].transpose(1, 2, 0))
    print(f"wrote {FIXTURE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--basicsr", type=Path, required=True, help="a BasicSR checkout")
    parser.add_argument("--realesrgan", type=Path, required=True, help="a Real-ESRGAN checkout")
    parser.add_argument("--make-test-fixture", action="store_true")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "benchmarks" / "results_realesrgan_parity.md")
    args = parser.parse_args()
    ref = load_reference(args.basicsr, args.realesrgan)
    if args.make_test_fixture:
        make_fixture(ref)
    else:
        compare(ref, args.out)


if __name__ == "__main__":
    main()
