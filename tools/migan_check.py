"""Check the ``migan`` engine against a MI-GAN ONNX pipeline: the published file, or one this
tool exports with MI-GAN's own ``scripts/create_onnx_pipeline.py`` from random weights.

    python tools/migan_check.py --onnx ~/.cache/photomend/models/migan_pipeline_v2.onnx
    python tools/migan_check.py --export-from /path/to/MI-GAN   # a checkout; needs torch

It prints the graph's inputs and output, then for a few photo sizes and hole shapes: the
time of one fill, whether the pixels outside the hole are the photo's own, and the largest
difference in the result between the same photo with black and with white under the hole
(0: nothing of the removed object reaches the fill). ``--export-from`` uses torchvision's
resize when torchvision is installed, else a stand-in (``F.interpolate``, no antialiasing),
so that graph's resizes can differ slightly from the published one; its interface does not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def export(checkout: Path, dest: Path) -> Path:
    """Export MI-GAN's pipeline (512 px Places2 generator, random weights) to ``dest``."""
    import importlib.util

    import torch

    if importlib.util.find_spec("torchvision") is None:
        import torch.nn.functional as F  # noqa: N812
        from PIL import Image

        def resize(x, size, interpolation=Image.BILINEAR):
            mode = "nearest" if interpolation == Image.NEAREST else "bilinear"
            size = [int(s) if isinstance(s, torch.Tensor) and s.dim() == 0
                    and not torch.jit.is_tracing() else s for s in size]
            extra = {} if mode == "nearest" else {"align_corners": False}
            return F.interpolate(x.float(), size=size, mode=mode, **extra).to(x.dtype)

        functional = types.ModuleType("torchvision.transforms.functional")
        functional.resize = resize
        transforms = types.ModuleType("torchvision.transforms")
        transforms.functional = functional
        tv = types.ModuleType("torchvision")
        tv.transforms = transforms
        sys.modules.update({"torchvision": tv, "torchvision.transforms": transforms,
                            "torchvision.transforms.functional": functional})
    def load(name: str, relpath: str) -> types.ModuleType:
        # (the two files alone: the packages' __init__ files import the training code)
        spec = importlib.util.spec_from_file_location(name, checkout / relpath)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module

    for package in ("lib", "lib.model_zoo"):
        sys.modules.setdefault(package, types.ModuleType(package))
    Generator = load("lib.model_zoo.migan_inference",  # noqa: N806
                     "lib/model_zoo/migan_inference.py").Generator
    MIGAN_Pipeline = load("create_onnx_pipeline",  # noqa: N806
                          "scripts/create_onnx_pipeline.py").MIGAN_Pipeline

    torch.manual_seed(0)
    weights = dest.with_suffix(".pt")
    torch.save(Generator(resolution=512).state_dict(), weights)
    pipe = MIGAN_Pipeline(model_path=str(weights), resolution=512, device="cpu")
    image = torch.full((1, 3, 256, 256), 255, dtype=torch.uint8)
    mask = torch.full((1, 1, 256, 256), 255, dtype=torch.uint8)
    mask[:, :, 10, 10] = mask[:, :, 20, 30] = 0
    axes = {0: "batch_size", 2: "height", 3: "width"}
    torch.onnx.export(pipe, (image, mask), str(dest), input_names=["image", "mask"],
                      output_names=["result"], dynamic_axes={"image": axes, "mask": axes},
                      do_constant_folding=True, opset_version=17, dynamo=False)
    return dest


def check(path: Path) -> None:
    from photomend.engines import create_engine, migan
    from photomend.nn.onnx import session

    sess = session(path)
    for arg in sess.get_inputs() + sess.get_outputs():
        print(f"{arg.name:7s} {arg.type} {arg.shape}")
    migan.check_session(sess, path.name)
    eng = create_engine("migan", weights=path)
    rng = np.random.default_rng(0)
    for h, w in ((512, 512), (1080, 1920), (3000, 4000)):
        img = rng.random((h, w, 3), dtype=np.float32)
        yy, xx = np.mgrid[:h, :w]
        holes = {
            "box": (abs(yy - h // 2) < h // 10) & (abs(xx - w // 2) < w // 8),
            "disc": (yy - h // 3) ** 2 + (xx - w // 3) ** 2 < (min(h, w) // 8) ** 2,
            "two far apart": ((abs(yy - 40) < 10) & (abs(xx - 40) < 10))
            | ((abs(yy - h + 40) < 10) & (abs(xx - w + 40) < 10)),
        }
        for name, hole in holes.items():
            dark, light = img.copy(), img.copy()
            dark[hole], light[hole] = 0.0, 1.0
            start = time.perf_counter()
            out = eng.inpaint(dark, hole)
            seconds = time.perf_counter() - start
            leak = float(np.abs(out - eng.inpaint(light, hole)).max())
            kept = bool(np.array_equal(out[~hole], dark[~hole]))
            print(f"{w}x{h} {name:14s} {seconds:6.2f} s  outside kept: {kept}  "
                  f"leak of the removed object: {leak:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--onnx", type=Path, help="a MI-GAN ONNX pipeline file")
    src.add_argument("--export-from", type=Path, metavar="CHECKOUT",
                     help="a checkout of github.com/Picsart-AI-Research/MI-GAN")
    args = parser.parse_args()
    if args.onnx is not None:
        check(args.onnx)
        return
    with tempfile.TemporaryDirectory() as tmp:
        check(export(args.export_from, Path(tmp) / "migan_pipeline.onnx"))


if __name__ == "__main__":
    main()
