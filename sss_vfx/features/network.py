"""Semantic features from a network file: TorchScript (``.pt``) or ONNX (``.onnx``).

The model maps an RGB image, ``(1, 3, h, w)`` float32, to features ``(1, C, h', w')``
at any output stride (``h' ~ h / s``). sss_vfx normalises the input (``(x - mean) /
std`` per channel, from the arguments or from the file's metadata), caps the size the
network sees (``max_side``), optionally splits it into overlapping tiles, pads it to a
multiple the network needs, upsamples the features to the image and checks them (shape,
aspect, NaN/inf). Features of more than 3 channels then go through the usual
preprocessing (DESIGN step 1).

Metadata: a JSON object ``{"mean": [r, g, b], "std": [r, g, b], "multiple": 32,
"max_side": 1024}`` (every key optional), stored as the TorchScript extra file
``sss_vfx.json`` (``torch.jit.save(m, path, _extra_files={"sss_vfx.json": text})``) or
the ONNX metadata property ``sss_vfx``. Arguments override the file.

PyTorch (extra ``sss_vfx[gpu]``) and onnxruntime (extra ``sss_vfx[onnx]``) are
imported only when a model of their format is loaded.
"""

import dataclasses
import importlib
import json
import pathlib

import cv2
import numpy as np

from sss_vfx.errors import FeatureError, OptionError
from sss_vfx.io.features import resize_features

__all__ = ["FeatureModel", "load_feature_model", "network_features"]

METADATA_KEY = "sss_vfx"
TORCH_EXTRA_FILE = "sss_vfx.json"
FORMATS = {".pt": "torchscript", ".pth": "torchscript", ".torchscript": "torchscript",
           ".onnx": "onnx"}
#: Output sides are ``input / stride`` rounded either way: allow this many pixels.
_ROUNDING = 1


@dataclasses.dataclass
class FeatureModel:
    """A loaded feature network and how to feed it.

    Attributes
    ----------
    path : str
    format : str
        ``'torchscript'`` or ``'onnx'``.
    mean, std : tuple of 3 float
        Input normalisation, ``(x - mean) / std`` on RGB in [0, 1].
    multiple : int
        Input sides are padded (reflected) to a multiple of this.
    max_side : int
        Longest side the network sees; larger images are downscaled first (0: no cap).
    input_size : tuple of int or None
        ``(h, w)`` when the network takes only one size (an ONNX file with a fixed
        input shape): every image is resized to it.
    device : str
        Where it runs: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
    """

    path: str
    format: str
    mean: tuple
    std: tuple
    multiple: int
    max_side: int
    input_size: object
    device: str
    run: object = dataclasses.field(repr=False, default=None)


def load_feature_model(path, *, mean=None, std=None, multiple=None, max_side=None,
                       device=None):
    """Load a TorchScript or ONNX feature network.

    Parameters
    ----------
    path : str or os.PathLike
        ``.pt``/``.pth``/``.torchscript`` (TorchScript) or ``.onnx``.
    mean, std : sequence of 3 float, optional
        Input normalisation; default: the file's metadata, else 0 and 1 (the network
        gets RGB in [0, 1]). ImageNet models usually want mean ``(0.485, 0.456,
        0.406)`` and std ``(0.229, 0.224, 0.225)``.
    multiple : int, optional
        Pad the input sides to a multiple of this (default: metadata, else 32).
    max_side : int, optional
        Longest side the network sees (default: metadata, else 1024; 0: no cap).
    device : str, optional
        ``'cpu'``, ``'cuda'`` or ``'cuda:N'``; None picks CUDA when available.

    Returns
    -------
    FeatureModel

    Raises
    ------
    FeatureError
        If the file is missing, of an unknown type, does not load, or the runtime it
        needs is not installed (the message names the extra).
    OptionError
        If a normalisation value or size is invalid.

    Examples
    --------
    >>> model = load_feature_model("deeplab.pt", mean=(0.485, 0.456, 0.406),
    ...                            std=(0.229, 0.224, 0.225))  # doctest: +SKIP
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FeatureError(f"feature model {path} does not exist (or is not a file); check "
                           "the path given to --feature-model")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FeatureError(f"feature model {path}: unknown type '{path.suffix}'; give a "
                           "TorchScript .pt or an ONNX .onnx file")
    if fmt == "torchscript":
        run, meta, device, input_size = _load_torchscript(path, device)
    else:
        run, meta, device, input_size = _load_onnx(path, device)
    return FeatureModel(
        path=str(path), format=fmt,
        mean=_triple(mean if mean is not None else meta.get("mean", (0.0,) * 3), "mean"),
        std=_triple(std if std is not None else meta.get("std", (1.0,) * 3), "std",
                    positive=True),
        multiple=_count(multiple if multiple is not None else meta.get("multiple", 32),
                        "multiple", minimum=1),
        max_side=_count(max_side if max_side is not None else meta.get("max_side", 1024),
                        "max_side", minimum=0),
        input_size=input_size, device=device, run=run)


def network_features(image, model, *, tile=0, overlap=32):
    """Run a feature network on an image and bring its output to the image's size.

    Parameters
    ----------
    image : array_like, shape (H, W, 3)
        RGB, float in [0, 1].
    model : FeatureModel or str or os.PathLike
        A loaded model, or a path loaded with the defaults of
        :func:`load_feature_model`.
    tile : int, optional
        Split the (capped) image into tiles of at most ``tile`` x ``tile`` pixels with
        ``overlap`` pixels shared and blended; 0 runs it whole. Bounds the network's
        memory on large plates without lowering its resolution.
    overlap : int, optional
        Pixels shared by neighbouring tiles, >= 0, below ``tile``.

    Returns
    -------
    ndarray, shape (H, W, C), float32
        Finite features, bilinearly upsampled to the image.

    Raises
    ------
    FeatureError
        If the network fails, or returns NaN/inf or an output that is not
        ``(1, C, h', w')`` with the image's aspect ratio.
    OptionError
        If the image or the tiling is invalid.
    """
    if not isinstance(model, FeatureModel):
        model = load_feature_model(model)
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[2] != 3 or not np.isfinite(image).all():
        raise OptionError(f"the image for the feature model must be finite (H, W, 3) RGB, "
                          f"got shape {image.shape}")
    if tile < 0 or overlap < 0 or (tile and overlap >= tile):
        raise OptionError(f"feature model tiles: need tile >= 0 and 0 <= overlap < tile, "
                          f"got tile={tile}, overlap={overlap}")
    height, width = image.shape[:2]
    scale = 1.0
    if model.max_side and max(height, width) > model.max_side:
        scale = model.max_side / max(height, width)
    small_hw = (max(1, round(height * scale)), max(1, round(width * scale)))
    small = image if scale == 1.0 else cv2.resize(
        image, small_hw[::-1], interpolation=cv2.INTER_AREA)
    if model.input_size is not None:
        fixed = cv2.resize(small, model.input_size[::-1], interpolation=cv2.INTER_AREA)
        features = resize_features(_run_piece(model, fixed, pad=False), small_hw)
    elif tile and max(small_hw) > tile:
        features = _run_tiled(model, small, tile, overlap)
    else:
        features = _run_piece(model, small)
    return resize_features(features, (height, width)).astype(np.float32)


def _run_piece(model, piece, pad=True):
    """Features of one piece, (h, w, C), at the piece's size."""
    h, w = piece.shape[:2]
    if pad:
        ph, pw = -h % model.multiple, -w % model.multiple
        padded = cv2.copyMakeBorder(piece, 0, ph, 0, pw, cv2.BORDER_REFLECT_101) \
            if ph or pw else piece
    else:
        padded = piece
    x = (padded - np.asarray(model.mean, np.float32)) / np.asarray(model.std, np.float32)
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None], np.float32)
    try:
        out = model.run(x)
    except Exception as exc:  # any runtime failure of a user's network
        raise FeatureError(f"feature model {model.path} failed on a {x.shape[3]}x"
                           f"{x.shape[2]} input: {_first_line(exc)}; check that it takes "
                           "(1, 3, H, W) float32 RGB") from exc
    out = _checked_output(model, np.asarray(out), padded.shape[:2])
    full = resize_features(out.transpose(1, 2, 0), padded.shape[:2])
    return full[:h, :w]


def _checked_output(model, out, input_hw):
    if out.ndim == 3:
        out = out[None]
    if out.ndim != 4 or out.shape[0] != 1 or min(out.shape) < 1:
        raise FeatureError(f"feature model {model.path} returned shape {out.shape}; it must "
                           "return (1, C, h, w) features")
    if not np.issubdtype(out.dtype, np.floating) and not np.issubdtype(out.dtype, np.integer):
        raise FeatureError(f"feature model {model.path} returned {out.dtype} values; it must "
                           "return real-valued features")
    bad = np.count_nonzero(~np.isfinite(out))
    if bad:
        raise FeatureError(f"feature model {model.path} returned {bad} NaN/inf values; check "
                           "its normalisation (--feature-model-mean/std) and weights")
    (ih, iw), (oh, ow) = input_hw, out.shape[2:]
    # A stride s gives about ih / s by iw / s: the two scales must agree up to rounding.
    if abs(oh * iw - ow * ih) > _ROUNDING * max(ih, iw):
        raise FeatureError(f"feature model {model.path} turned a {iw}x{ih} input into "
                           f"{ow}x{oh} features: not the input's aspect ratio; it must keep "
                           "the image's layout (any stride)")
    return out[0].astype(np.float32)


def _run_tiled(model, image, tile, overlap):
    height, width = image.shape[:2]
    ys = _tile_starts(height, tile, overlap)
    xs = _tile_starts(width, tile, overlap)
    total = weights = None
    for y in ys:
        for x in xs:
            piece = image[y:y + tile, x:x + tile]
            feats = _run_piece(model, piece)
            if total is None:
                total = np.zeros((height, width, feats.shape[2]), np.float64)
                weights = np.zeros((height, width, 1), np.float64)
            ramp = _ramp(piece.shape[0], overlap)[:, None] * _ramp(piece.shape[1], overlap)
            total[y:y + piece.shape[0], x:x + piece.shape[1]] += feats * ramp[..., None]
            weights[y:y + piece.shape[0], x:x + piece.shape[1], 0] += ramp
    return (total / weights).astype(np.float32)


def _tile_starts(size, tile, overlap):
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, size - tile, step)) + [size - tile]
    return sorted(set(starts))


def _ramp(length, overlap):
    # Linear weights across the overlap, never 0, so every pixel has weight.
    position = np.arange(length, dtype=np.float64)
    edge = np.minimum(position + 1, length - position)
    return np.clip(edge / (overlap + 1), 1e-3, 1.0) if overlap else np.ones(length)


def _load_torchscript(path, device):
    torch = _require("torch", "gpu", "TorchScript feature models")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    extra = {TORCH_EXTRA_FILE: ""}
    try:
        module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as exc:  # torch raises RuntimeError, ValueError, pickle errors...
        raise FeatureError(f"cannot load {path} as a TorchScript model "
                           f"({_first_line(exc)}); "
                           "save it with torch.jit.trace/script and torch.jit.save") from exc
    module.eval()
    meta = _parse_meta(extra[TORCH_EXTRA_FILE], path)

    def run(x):
        with torch.inference_mode():
            out = module(torch.from_numpy(x).to(device))
        if isinstance(out, (tuple, list)):
            out = out[0]
        elif isinstance(out, dict):
            out = next(iter(out.values()))
        return out.detach().float().cpu().numpy()

    return run, meta, str(device), None


def _load_onnx(path, device):
    ort = _require("onnxruntime", "onnx", "ONNX feature models")
    device = device or "cpu"
    providers = ["CPUExecutionProvider"]
    if str(device).startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise FeatureError(f"device {device} asked for the ONNX model but this "
                               "onnxruntime has no CUDA; install onnxruntime-gpu or use cpu")
        index = int(str(device).partition(":")[2] or 0)
        providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception classes
        raise FeatureError(f"cannot load {path} as an ONNX model "
                           f"({_first_line(exc)}); "
                           "export it with torch.onnx.export or check the file") from exc
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise FeatureError(f"ONNX model {path} takes {len(inputs)} inputs; it must take one "
                           "(1, 3, H, W) image")
    shape = inputs[0].shape
    fixed = None
    if len(shape) == 4 and all(isinstance(s, int) for s in shape[2:]):
        fixed = (int(shape[2]), int(shape[3]))
    meta = _parse_meta(session.get_modelmeta().custom_metadata_map.get(METADATA_KEY, ""), path)
    name = inputs[0].name

    def run(x):
        return session.run(None, {name: x})[0]

    return run, meta, str(device), fixed


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _require(module, extra, what):
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise FeatureError(f"{what} need {module}, which is not installed; "
                           f"pip install 'sss_vfx[{extra}]'") from exc


def _parse_meta(text, path):
    if not text:
        return {}
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FeatureError(f"{path}: its {METADATA_KEY} metadata is not valid JSON ({exc}); "
                           "fix or remove it") from exc
    if not isinstance(meta, dict):
        raise FeatureError(f"{path}: its {METADATA_KEY} metadata must be a JSON object")
    return meta


def _triple(values, name, positive=False):
    if isinstance(values, str):
        values = values.split(",")
    elif np.isscalar(values):
        values = [values]
    try:
        triple = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise OptionError(f"feature model {name} must be 3 numbers like 0.485,0.456,0.406, "
                          f"got {values!r}") from exc
    if len(triple) == 1:
        triple *= 3
    if len(triple) != 3 or not np.isfinite(triple).all() or \
            (positive and min(triple) <= 0):
        raise OptionError(f"feature model {name} must be 3 finite numbers"
                          f"{' above 0' if positive else ''}, got {values!r}")
    return triple


def _count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise OptionError(f"feature model {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
