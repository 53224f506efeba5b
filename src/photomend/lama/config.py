"""The shape of a LaMa FFC-ResNet generator, in plain Python (no torch needed).

A :class:`LamaConfig` fixes every layer of the generator; :func:`expected_shapes` lists the
weights such a generator has, under the official key names (``model.<i>.…``, the names in the
published checkpoints once their ``generator.`` prefix is removed) and in the official order.
:func:`infer_config` reads a config back from a state dict's shapes, so the loader accepts any
consistent member of the family (Big-LaMa, LaMa-Fourier, the tiny generators of the tests) and
names the first key that does not fit.

>>> len(expected_shapes(BIG_LAMA))
989
>>> expected_shapes(BIG_LAMA)["model.5.conv1.ffc.convg2g.fu.conv_layer.weight"]
(384, 384, 1, 1)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LamaConfig:
    """Hyper-parameters of an FFC-ResNet generator (``configs/training/generator`` upstream).

    The first convolution and the downsamplings are purely local; the last downsampling splits
    its output into local and global (spectral) channels by ``ratio_g``, and every residual block
    keeps that split. All padding is reflect, all norms BatchNorm, the output a sigmoid.
    """

    input_nc: int = 4
    output_nc: int = 3
    ngf: int = 64
    n_downsampling: int = 3
    n_blocks: int = 18
    ratio_g: float = 0.75
    max_features: int = 1024

    def __post_init__(self) -> None:
        if self.n_downsampling < 1 or self.n_blocks < 0 or self.ngf < 1:
            raise ValueError(f"invalid LaMa config: {self}")
        if not 0.0 <= self.ratio_g <= 1.0:
            raise ValueError(f"ratio_g must be in [0, 1], got {self.ratio_g}")

    # --- layer geometry -------------------------------------------------------------------
    def channels(self, level: int) -> int:
        """Feature channels after ``level`` downsamplings."""
        return min(self.max_features, self.ngf * 2**level)

    @property
    def bottleneck(self) -> int:
        return self.channels(self.n_downsampling)

    def split(self, channels: int) -> tuple[int, int]:
        """(local, global) channels of an FFC with ``channels`` outputs at ``ratio_g``."""
        g = int(channels * self.ratio_g)
        return channels - g, g

    @property
    def pad_multiple(self) -> int:
        """Input sides must be a multiple of this (the downsamplings halve them)."""
        return 2**self.n_downsampling

    # --- indices into the official ``model`` Sequential -------------------------------------
    @property
    def first_block(self) -> int:
        return 2 + self.n_downsampling

    @property
    def join_index(self) -> int:
        """The layer that concatenates local and global channels (after the last block)."""
        return self.first_block + self.n_blocks

    def up_index(self, i: int) -> int:
        """Index of the i-th transposed convolution (each is followed by BN and ReLU)."""
        return self.join_index + 1 + 3 * i

    @property
    def out_conv_index(self) -> int:
        return self.join_index + 1 + 3 * self.n_downsampling + 1

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"FFC-ResNet: {self.input_nc} inputs, ngf {self.ngf}, {self.n_downsampling} "
                f"downsamplings, {self.n_blocks} FFC blocks, global ratio {self.ratio_g}")


#: Big-LaMa (``configs/training/big-lama.yaml``): 50,975,875 parameters.
BIG_LAMA = LamaConfig()


def _bn(prefix: str, n: int) -> dict[str, Shape]:
    return {f"{prefix}.weight": (n,), f"{prefix}.bias": (n,), f"{prefix}.running_mean": (n,),
            f"{prefix}.running_var": (n,), f"{prefix}.num_batches_tracked": ()}


def _ffc(prefix: str, cin: int, cout: int, k: int, gin: float, gout: float) -> dict[str, Shape]:
    """One FFC + BN layer (``FFC_BN_ACT`` upstream) with input/output global ratios."""
    in_g = int(cin * gin)
    in_l = cin - in_g
    out_g = int(cout * gout)
    out_l = cout - out_g
    s: dict[str, Shape] = {}
    if in_l and out_l:
        s[f"{prefix}.ffc.convl2l.weight"] = (out_l, in_l, k, k)
    if in_l and out_g:
        s[f"{prefix}.ffc.convl2g.weight"] = (out_g, in_l, k, k)
    if in_g and out_l:
        s[f"{prefix}.ffc.convg2l.weight"] = (out_l, in_g, k, k)
    if in_g and out_g:
        half = out_g // 2
        st = f"{prefix}.ffc.convg2g"
        s[f"{st}.conv1.0.weight"] = (half, in_g, 1, 1)
        s.update(_bn(f"{st}.conv1.1", half))
        s[f"{st}.fu.conv_layer.weight"] = (2 * half, 2 * half, 1, 1)
        s.update(_bn(f"{st}.fu.bn", 2 * half))
        s[f"{st}.conv2.weight"] = (out_g, half, 1, 1)
    if gout != 1:
        s.update(_bn(f"{prefix}.bn_l", out_l))
    if gout != 0:
        s.update(_bn(f"{prefix}.bn_g", out_g))
    return s


def expected_shapes(cfg: LamaConfig) -> dict[str, Shape]:
    """Every tensor of the generator's state dict, official names, official order."""
    s = _ffc("model.1", cfg.input_nc, cfg.ngf, 7, 0.0, 0.0)
    for i in range(cfg.n_downsampling):
        gout = cfg.ratio_g if i == cfg.n_downsampling - 1 else 0.0
        s.update(_ffc(f"model.{2 + i}", cfg.channels(i), cfg.channels(i + 1), 3, 0.0, gout))
    dim = cfg.bottleneck
    for b in range(cfg.n_blocks):
        for conv in ("conv1", "conv2"):
            s.update(_ffc(f"model.{cfg.first_block + b}.{conv}", dim, dim, 3,
                          cfg.ratio_g, cfg.ratio_g))
    for i in range(cfg.n_downsampling):
        level = cfg.n_downsampling - i
        cin = cfg.channels(level)
        cout = min(cfg.max_features, int(cfg.ngf * 2**level / 2))
        j = cfg.up_index(i)
        s[f"model.{j}.weight"] = (cin, cout, 3, 3)
        s[f"model.{j}.bias"] = (cout,)
        s.update(_bn(f"model.{j + 1}", cout))
    j = cfg.out_conv_index
    s[f"model.{j}.weight"] = (cfg.output_nc, cfg.ngf, 7, 7)
    s[f"model.{j}.bias"] = (cfg.output_nc,)
    return s


def parameter_count(cfg: LamaConfig) -> int:
    """Learned parameters (BatchNorm statistics excluded).

    >>> parameter_count(BIG_LAMA)
    50975875
    """
    total = 0
    for key, shape in expected_shapes(cfg).items():
        if key.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        n = 1
        for d in shape:
            n *= d
        total += n
    return total


class ArchitectureMismatch(ValueError):
    """A state dict that is not the generator ``expected`` describes (first difference)."""


def infer_config(shapes: dict[str, Shape]) -> LamaConfig:
    """The config whose generator has these weights, read from a handful of shapes.

    Raises :class:`ArchitectureMismatch` naming the key it needed and did not find. The result
    still has to be checked key by key with :func:`first_mismatch`.
    """

    def need(key: str, ndim: int) -> Shape:
        if key not in shapes:
            raise ArchitectureMismatch(f"missing key {key!r}")
        shape = tuple(shapes[key])
        if len(shape) != ndim:
            raise ArchitectureMismatch(f"key {key!r} has shape {shape}, expected {ndim} dims")
        return shape

    first = need("model.1.ffc.convl2l.weight", 4)
    ngf, input_nc = first[0], first[1]
    n_down = 0
    while any(k.startswith(f"model.{2 + n_down}.ffc.") for k in shapes):
        n_down += 1
    if n_down == 0:
        raise ArchitectureMismatch("missing key 'model.2.ffc.convl2l.weight' (no downsampling)")
    n_blocks = 0
    while any(k.startswith(f"model.{2 + n_down + n_blocks}.conv1.") for k in shapes):
        n_blocks += 1
    probe = LamaConfig(ngf=ngf, input_nc=input_nc, n_downsampling=n_down, n_blocks=0)
    dim = probe.bottleneck
    # The last downsampling's local output gives the split of the bottleneck.
    last = f"model.{1 + n_down}.ffc."
    out_l = need(last + "convl2l.weight", 4)[0] if last + "convl2l.weight" in shapes else 0
    ratio = (dim - out_l) / dim
    # int(dim * ratio) must give back the same split: snap to the nearest quarter when it does.
    for nice in (0.0, 0.25, 0.5, 0.75, 1.0):
        if int(dim * nice) == dim - out_l:
            ratio = nice
            break
    out = need(f"model.{LamaConfig(n_downsampling=n_down, n_blocks=n_blocks).out_conv_index}"
               ".weight", 4)
    return LamaConfig(input_nc=input_nc, output_nc=out[0], ngf=ngf, n_downsampling=n_down,
                      n_blocks=n_blocks, ratio_g=ratio)


def first_mismatch(shapes: dict[str, Shape], cfg: LamaConfig) -> str | None:
    """None when ``shapes`` is exactly ``cfg``'s state dict, else a sentence naming the first
    key (in the official order) that is missing or has another shape, or an unexpected key.

    >>> shapes = dict(expected_shapes(BIG_LAMA))
    >>> shapes["model.9.conv2.ffc.convg2l.weight"] = (128, 384, 1, 1)
    >>> first_mismatch(shapes, BIG_LAMA)
    "key 'model.9.conv2.ffc.convg2l.weight' has shape (128, 384, 1, 1), expected (128, 384, 3, 3)"
    """
    expected = expected_shapes(cfg)
    for key, shape in expected.items():
        if key not in shapes:
            if key.endswith("num_batches_tracked"):
                continue  # older checkpoints lack these counters; inference never reads them
            return f"missing key {key!r} (expected shape {shape})"
        got = tuple(shapes[key])
        if got != shape:
            return f"key {key!r} has shape {got}, expected {shape}"
    extra = [k for k in shapes if k not in expected]
    if extra:
        return f"unexpected key {extra[0]!r} (shape {tuple(shapes[extra[0]])})"
    return None
