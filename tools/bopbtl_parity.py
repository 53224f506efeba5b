"""Parity of photomend's ``bopbtl`` detector (photomend.restoration.bopbtl_arch, the ONNX file
its import writes, and the preprocessing of photomend.restoration.detect_bopbtl) with the
official code of Bringing Old Photos Back to Life, on random weights.

    git clone https://github.com/microsoft/Bringing-Old-Photos-Back-to-Life /tmp/bopbtl  # read and run only
    python tools/bopbtl_parity.py --repo /tmp/bopbtl [--photo PATH]

The official ``Global/detection_models/networks.py`` (its ``UNet`` in the configuration of
``Global/detection.py``) and ``Global/detection.py``'s ``data_transforms`` and ``scale_tensor``
are loaded from their files, with stand-ins for what they import but do not use here (the
synchronised batch norm wrapper, which ``UNet.__init__`` only binds to a local name, and
torchvision). A random official UNet (PyTorch's default init plus N(0, 0.05) on every parameter,
random batch-norm statistics) is saved as ``{"model_state": state_dict, "epoch": 1}`` inside a
zip at ``checkpoints/detection/FT_Epoch_latest.pt``, as the release lays it out, and imported
with photomend's converter (layout check + ONNX export). Then, on a photo (default: the bundled
example) at three sizes:

* the official steps (``data_transforms(img, "full_size")``, ``convert("L")``, ``ToTensor`` and
  ``Normalize([0.5], [0.5])`` written out, ``scale_tensor``, the UNet, sigmoid,
  ``F.interpolate(..., mode="nearest")`` back to the rounded size) against photomend's
  ``network_input`` + ONNX Runtime, compared at the network's size and as masks (>= 0.4);
* the official UNet and photomend's ``ScratchUNet`` on the same input tensor.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import types
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from photomend.io import read_image  # noqa: E402
from photomend.restoration import detect_bopbtl  # noqa: E402
from photomend.restoration.bopbtl_arch import ScratchUNet  # noqa: E402


def load_official(repo: Path):
    """(networks module, detection module) from the official files."""
    global_dir = repo / "Global"
    sys.modules["detection_models.sync_batchnorm"] = types.SimpleNamespace(
        DataParallelWithCallback=lambda module: module)
    sys.modules.setdefault("torchvision", types.ModuleType("torchvision"))
    pkg = types.ModuleType("detection_models")
    pkg.__path__ = [str(global_dir / "detection_models")]
    sys.modules["detection_models"] = pkg
    mods = {}
    for name, path in (("detection_models.antialiasing", "detection_models/antialiasing.py"),
                       ("detection_models.networks", "detection_models/networks.py")):
        spec = importlib.util.spec_from_file_location(name, global_dir / path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        mods[name] = mod
    util = types.ModuleType("detection_util.util")  # (imported with *, used by main() only)
    sys.modules["detection_util"] = types.ModuleType("detection_util")
    sys.modules["detection_util.util"] = util
    spec = importlib.util.spec_from_file_location("bopbtl_detection", global_dir / "detection.py")
    detection = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(detection)
    return mods["detection_models.networks"], detection


def official_unet(networks):
    return networks.UNet(in_channels=1, out_channels=1, depth=4, conv_num=2, wf=6, padding=True,
                         batch_norm=True, up_mode="upsample", with_tanh=False, sync_bn=True,
                         antialiasing=True)


def randomise(net: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))


def official_probability(net, detection, img: Image.Image) -> np.ndarray:
    """The official steps of detection.py (``--input_size full_size``), sigmoid at the
    rounded size."""
    transformed = detection.data_transforms(img, "full_size")
    grey = np.asarray(transformed.convert("L"), np.float32) / 255.0
    x = (torch.from_numpy(grey)[None, None] - 0.5) / 0.5
    _, _, ow, oh = x.shape
    scaled = detection.scale_tensor(x)
    with torch.no_grad():
        p = torch.sigmoid(net(scaled))
    return p, F.interpolate(p, [ow, oh], mode="nearest")[0, 0].numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", type=Path, required=True, help="a clone of the official repo")
    ap.add_argument("--photo", type=Path, default=ROOT / "src/photomend/data/example.jpg")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)
    networks, detection = load_official(args.repo)
    official = official_unet(networks)
    randomise(official, args.seed)
    official.eval()
    ours = ScratchUNet().eval()
    with tempfile.TemporaryDirectory() as tmp:
        zpath = Path(tmp) / "global_checkpoints.zip"
        pt = Path(tmp) / "FT_Epoch_latest.pt"
        torch.save({"model_state": official.state_dict(), "epoch": 1}, pt)
        with zipfile.ZipFile(zpath, "w") as zf:
            zf.write(pt, "checkpoints/detection/FT_Epoch_latest.pt")
        onnx_path = Path(tmp) / "bopbtl.onnx"
        detect_bopbtl.convert_checkpoint(zpath, onnx_path)
        ours.load_state_dict(torch.load(pt, weights_only=True)["model_state"])
        photo = read_image(args.photo).rgb
        rows = []
        for side in (None, 1000, 333):
            rgb = photo
            if side is not None:
                h, w = photo.shape[:2]
                f = side / max(h, w)
                rgb = np.asarray(Image.fromarray(np.rint(photo * 255).astype(np.uint8)).resize(
                    (round(w * f), round(h * f)), Image.BICUBIC), np.float32) / 255
            img = Image.fromarray(np.rint(rgb * 255).astype(np.uint8))
            p_small, p_official = official_probability(official, detection, img)
            x = detect_bopbtl.network_input(rgb)
            p_ours = detect_bopbtl.probability(rgb, model=onnx_path)
            with torch.no_grad():
                torch_in = detection.scale_tensor(
                    (torch.from_numpy(np.asarray(detection.data_transforms(img, "full_size")
                                                 .convert("L"), np.float32) / 255)[None, None]
                     - 0.5) / 0.5)
                arch = float((torch.sigmoid(ours(torch_in)) - torch.sigmoid(official(torch_in)))
                             .abs().max())
                inputs = float(np.abs(torch_in.numpy() - x).max()) if torch_in.shape == x.shape \
                    else float("nan")
            prob = float(np.abs(p_small[0, 0].numpy() - p_ours).max()) \
                if p_small.shape[2:] == p_ours.shape else float("nan")
            mask_official = p_official >= detect_bopbtl.THRESHOLD
            h16, w16 = mask_official.shape
            ours_full = cv2.resize(p_ours, (w16, h16), interpolation=cv2.INTER_NEAREST)
            mask_ours = ours_full >= detect_bopbtl.THRESHOLD
            rows.append((f"{rgb.shape[1]}x{rgb.shape[0]}", tuple(x.shape[2:]), inputs, arch, prob,
                         float((mask_official != mask_ours).mean()), float(mask_official.mean())))
    print("| scan | network input | input max diff | ScratchUNet vs official (sigmoid) | "
          "ONNX pipeline vs official (sigmoid) | masks differ | official mask share |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1][1]}x{r[1][0]} | {r[2]:.1e} | {r[3]:.1e} | {r[4]:.1e} | "
              f"{100 * r[5]:.3f} % | {100 * r[6]:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
