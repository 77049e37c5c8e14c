"""Feature networks from files: tiny TorchScript and ONNX models written by the tests."""

import json
import sys

import numpy as np
import pytest

from sss_vfx.errors import FeatureError, OptionError
from sss_vfx.features.network import load_feature_model, network_features
from sss_vfx.io.features import resize_features

try:
    import torch
except ImportError:  # TorchScript tests skip; ONNX tests build their models with onnx
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit


Module = torch.nn.Module if torch is not None else object


class Strided(Module):
    """A few convolutions with output stride 4 and 5 channels."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(8, 5, 3, stride=2, padding=1))

    def forward(self, x):
        return self.body(x)


class Pointwise(Module):
    """A 1x1 convolution: each output pixel depends on its input pixel only."""

    def __init__(self, nan=False):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(12.0).reshape(4, 3, 1, 1) / 10)
            self.conv.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 0.5]))
        self.nan = nan

    def forward(self, x):
        y = self.conv(x)
        return y * float("nan") if self.nan else y


def pointwise_numpy(x):
    weight = np.arange(12.0).reshape(4, 3) / 10
    return x @ weight.T + np.array([0.0, 1.0, -1.0, 0.5])


def save_script(module, path, meta=None):
    scripted = torch.jit.script(module.eval())
    extra = {"sss_vfx.json": json.dumps(meta)} if meta else {}
    torch.jit.save(scripted, str(path), _extra_files=extra)
    return path


def image(h=64, w=96, seed=0):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


@needs_torch
def test_torchscript_strided_model_matches_direct_run_and_upsampling(tmp_path):
    model = Strided()
    path = save_script(model, tmp_path / "strided.pt")
    img = image()
    feats = network_features(img, load_feature_model(path, device="cpu"))
    with torch.no_grad():
        direct = model(torch.from_numpy(img.transpose(2, 0, 1)[None].copy()))[0].numpy()
    assert direct.shape == (5, 16, 24)
    expected = resize_features(direct.transpose(1, 2, 0), (64, 96))
    assert feats.shape == (64, 96, 5) and feats.dtype == np.float32
    np.testing.assert_allclose(feats, expected, atol=1e-5)


@needs_torch
def test_normalisation_from_metadata_and_arguments(tmp_path):
    path = save_script(Pointwise(), tmp_path / "pw.pt",
                       meta={"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.5]})
    img = image(32, 32)
    model = load_feature_model(path, device="cpu")
    assert model.mean == (0.5, 0.4, 0.3) and model.std == (0.2, 0.25, 0.5)
    expected = pointwise_numpy((img - [0.5, 0.4, 0.3]) / [0.2, 0.25, 0.5])
    np.testing.assert_allclose(network_features(img, model), expected, atol=1e-5)
    # Arguments override the file.
    plain = load_feature_model(path, mean=0.0, std=[1, 1, 1], device="cpu")
    np.testing.assert_allclose(network_features(img, plain), pointwise_numpy(img), atol=1e-5)


@needs_torch
def test_padding_to_a_multiple_does_not_shift_features(tmp_path):
    path = save_script(Pointwise(), tmp_path / "pw.pt")
    img = image(37, 53)
    feats = network_features(img, load_feature_model(path, multiple=32, device="cpu"))
    np.testing.assert_allclose(feats, pointwise_numpy(img), atol=1e-5)


@needs_torch
def test_tiles_equal_the_whole_image_for_a_pointwise_model(tmp_path):
    path = save_script(Pointwise(), tmp_path / "pw.pt")
    model = load_feature_model(path, multiple=1, device="cpu")
    img = image(70, 90)
    whole = network_features(img, model)
    tiled = network_features(img, model, tile=32, overlap=8)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


@needs_torch
def test_large_plates_are_capped_then_upsampled(tmp_path):
    path = save_script(Pointwise(), tmp_path / "pw.pt")
    model = load_feature_model(path, multiple=1, max_side=40, device="cpu")
    img = np.zeros((80, 120, 3), np.float32)
    img[:, 60:] = 1.0
    feats = network_features(img, model)
    assert feats.shape == (80, 120, 4)
    np.testing.assert_allclose(feats[5, 5], pointwise_numpy(np.zeros(3)), atol=1e-5)
    np.testing.assert_allclose(feats[5, 115], pointwise_numpy(np.ones(3)), atol=1e-5)


@pytest.fixture
def onnx_export():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")

    def export(module, path, dynamic=True, meta=None):
        import onnx
        torch.onnx.export(
            module.eval(), torch.zeros(1, 3, 32, 32), str(path), dynamo=False,
            input_names=["image"], output_names=["features"],
            dynamic_axes={"image": {2: "h", 3: "w"}} if dynamic else None)
        if meta:
            proto = onnx.load(str(path))
            proto.metadata_props.add(key="sss_vfx", value=json.dumps(meta))
            onnx.save(proto, str(path))
        return path
    return export


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@needs_torch
def test_onnx_equals_torchscript(tmp_path, onnx_export):
    model = Strided()
    meta = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    ts = network_features(image(), load_feature_model(
        save_script(model, tmp_path / "m.pt", meta), device="cpu"))
    onnx_model = load_feature_model(onnx_export(model, tmp_path / "m.onnx", meta=meta))
    assert onnx_model.format == "onnx" and onnx_model.mean == (0.5, 0.5, 0.5)
    np.testing.assert_allclose(network_features(image(), onnx_model), ts, atol=1e-4)


def onnx_pointwise(path, shape=(1, 3, "h", "w"), meta=None):
    """The Pointwise model built node by node with onnx.helper (no torch needed)."""
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper
    weight = (np.arange(12.0).reshape(4, 3, 1, 1) / 10).astype(np.float32)
    bias = np.array([0.0, 1.0, -1.0, 0.5], np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["features"])], "pointwise",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    proto.ir_version = 8
    if meta:
        proto.metadata_props.add(key="sss_vfx", value=json.dumps(meta))
    onnx.save(proto, str(path))
    return path


def test_onnx_model_matches_numpy_with_metadata_normalisation(tmp_path):
    meta = {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.5]}
    model = load_feature_model(onnx_pointwise(tmp_path / "pw.onnx", meta=meta))
    assert model.format == "onnx" and model.input_size is None and model.device == "cpu"
    img = image(37, 53)
    expected = pointwise_numpy((img - [0.5, 0.4, 0.3]) / [0.2, 0.25, 0.5])
    np.testing.assert_allclose(network_features(img, model), expected, atol=1e-5)
    np.testing.assert_allclose(network_features(img, model, tile=16, overlap=4), expected,
                               atol=1e-5)


def test_onnx_with_a_fixed_input_size_gets_resized_images(tmp_path):
    model = load_feature_model(onnx_pointwise(tmp_path / "fixed.onnx", shape=(1, 3, 32, 32)))
    assert model.input_size == (32, 32)
    img = np.full((48, 80, 3), 0.25, np.float32)
    feats = network_features(img, model)
    assert feats.shape == (48, 80, 4)
    np.testing.assert_allclose(feats, pointwise_numpy(img), atol=1e-5)


def test_onnx_junk_file_is_refused(tmp_path):
    pytest.importorskip("onnxruntime")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(FeatureError, match="cannot load .* ONNX"):
        load_feature_model(tmp_path / "junk.onnx")


class Flatten(Module):
    def forward(self, x):
        return x.flatten()


class Squash(Module):
    def forward(self, x):
        return torch.nn.functional.adaptive_avg_pool2d(x, (4, 4))


@needs_torch
def test_bad_models_and_outputs(tmp_path):
    img = image(64, 96)
    with pytest.raises(FeatureError, match="NaN/inf"):
        network_features(img, load_feature_model(save_script(Pointwise(nan=True),
                                                             tmp_path / "nan.pt")))
    with pytest.raises(FeatureError, match="returned shape"):
        network_features(img, load_feature_model(save_script(Flatten(), tmp_path / "f.pt")))
    with pytest.raises(FeatureError, match="aspect ratio"):
        network_features(img, load_feature_model(save_script(Squash(), tmp_path / "s.pt")))
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(FeatureError, match="cannot load .* TorchScript"):
        load_feature_model(tmp_path / "junk.pt")
    with pytest.raises(FeatureError, match="does not exist"):
        load_feature_model(tmp_path / "missing.pt")
    (tmp_path / "m.h5").write_bytes(b"x")
    with pytest.raises(FeatureError, match="unknown type"):
        load_feature_model(tmp_path / "m.h5")
    good = save_script(Pointwise(), tmp_path / "pw.pt")
    with pytest.raises(OptionError, match="std"):
        load_feature_model(good, std=(1, 0, 1))
    with pytest.raises(OptionError, match="mean"):
        load_feature_model(good, mean="a,b,c")
    with pytest.raises(OptionError, match="overlap"):
        network_features(img, load_feature_model(good), tile=16, overlap=16)


def test_missing_runtime_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if absent
    (tmp_path / "m.onnx").write_bytes(b"x")
    with pytest.raises(FeatureError, match=r"pip install 'sss_vfx\[onnx\]'"):
        load_feature_model(tmp_path / "m.onnx")
