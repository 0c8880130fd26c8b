"""Post-processing and the Predictor: results at original size, consistent batch and single."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from synthetic import synthetic_frame

from polypviewer.engine.models.modelfile import load_model
from polypviewer.engine.runtime.inference import Predictor, from_probability
from polypviewer.engine.runtime.postprocess import find_instances, min_area_pixels


def test_find_instances_counts_and_geometry():
    mask = np.zeros((60, 80), bool)
    mask[10:20, 5:25] = True  # 200 px, bbox (5,10)-(25,20)
    mask[40:50, 60:70] = True  # 100 px
    mask[0, 79] = True  # 1 px speck
    prob = np.where(mask, 0.8, 0.1).astype(np.float32)
    prob[40:50, 60:70] = 0.6
    insts, cleaned = find_instances(mask, prob, min_area=5)
    assert len(insts) == 2
    big, small = insts  # largest first
    assert big.bbox == (5, 10, 25, 20) and big.area == 200
    assert big.centroid == pytest.approx((14.5, 14.5))
    assert big.confidence == pytest.approx(0.8)
    assert small.bbox == (60, 40, 70, 50) and small.area == 100
    assert small.confidence == pytest.approx(0.6)
    assert not cleaned[0, 79] and cleaned[15, 10] and cleaned.sum() == 300
    d = big.to_dict()
    assert d["bbox"] == [5, 10, 25, 20] and d["area"] == 200


def test_find_instances_empty_and_diagonal_connectivity():
    insts, cleaned = find_instances(np.zeros((5, 5), bool))
    assert insts == [] and not cleaned.any()
    diag = np.eye(6, dtype=bool)
    insts, _ = find_instances(diag)
    assert len(insts) == 1 and insts[0].area == 6  # 8-connected


def _instances_full_frame(mask, prob, min_area):
    """Reference: label the whole frame (what find_instances did before it cropped)."""
    n, labels, stats, cents = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep, cleaned = [], mask.copy()
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_area:
            cleaned[labels == i] = False
        else:
            keep.append(((x, y, x + w, y + h), area, tuple(cents[i]), float(prob[labels == i].mean())))
    return sorted(keep, key=lambda k: -k[1]), cleaned


@pytest.mark.parametrize("seed", range(8))
def test_find_instances_matches_whole_frame_labelling(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(20, 200, 2)
    mask = np.zeros((h, w), np.uint8)
    for _ in range(rng.integers(0, 6)):  # blobs anywhere, edges included, some of them specks
        c = (int(rng.integers(-5, w + 5)), int(rng.integers(-5, h + 5)))
        cv2.ellipse(mask, c, (int(rng.integers(0, 30)), int(rng.integers(0, 30))),
                    float(rng.integers(0, 180)), 0, 360, 1, -1)
    mask = mask.astype(bool)
    prob = rng.random((h, w), dtype=np.float32)
    got, cleaned = find_instances(mask, prob, min_area=12)
    ref, ref_cleaned = _instances_full_frame(mask, prob, 12)
    assert [(i.bbox, i.area) for i in got] == [(b, a) for b, a, _, _ in ref]
    for inst, (_, _, cent, conf) in zip(got, ref):
        assert inst.centroid == pytest.approx(cent) and inst.confidence == pytest.approx(conf)
    assert np.array_equal(cleaned, ref_cleaned)


def test_min_area_pixels():
    assert min_area_pixels((100, 100), 0.001) == 10
    assert min_area_pixels((4, 4), 0.001) == 1


def test_from_probability_drops_specks():
    prob = np.zeros((100, 100), np.float32)
    prob[10:30, 10:30] = 0.9
    prob[80, 80] = 0.9  # speck smaller than 0.1 % of the frame
    fp = from_probability(prob, 0.7, 0.5)
    assert fp.count == 1 and not fp.mask[80, 80] and fp.mask[20, 20]


@pytest.fixture(scope="module")
def predictor(tiny_model_path) -> Predictor:
    return Predictor(load_model(tiny_model_path), device="cpu")


def test_predict_original_size_and_mask_rule(predictor, rng):
    img, _ = synthetic_frame(rng, h=90, w=130)
    p = predictor.predict(img)
    assert p.prob.shape == (90, 130) and p.prob.dtype == np.float32
    assert p.prob.min() >= 0 and p.prob.max() <= 1
    assert 0 <= p.frame_prob <= 1
    raw = p.prob >= p.threshold
    _, expected = find_instances(raw, p.prob, min_area_pixels(raw.shape, p.min_area_fraction))
    assert np.array_equal(p.mask, expected)
    assert not (p.mask & ~raw).any()  # cleaning only removes pixels


def test_predict_batch_equals_single(predictor, rng):
    frames = [synthetic_frame(rng, h=h, w=w)[0] for h, w in ((90, 130), (64, 64), (120, 70))]
    batch = predictor.predict_batch(frames)
    for f, b in zip(frames, batch, strict=True):
        s = predictor.predict(f)
        np.testing.assert_allclose(s.prob, b.prob, atol=1e-5)
        assert s.frame_prob == pytest.approx(b.frame_prob, abs=1e-5)
    assert predictor.predict_batch([]) == []


def test_rethreshold_does_not_run_model(tiny_model_path, rng, monkeypatch):
    pred = Predictor(load_model(tiny_model_path), device="cpu", threshold=0.5)
    img, _ = synthetic_frame(rng)
    p = pred.predict(img)

    def boom(*a, **k):
        raise AssertionError("model must not run for a new threshold")

    monkeypatch.setattr(pred.net, "forward", boom)
    lo, hi = (float(np.quantile(p.prob, q)) for q in (0.3, 0.9))
    q_lo, q_hi = p.rethreshold(lo), p.rethreshold(hi)
    assert q_lo.threshold == pytest.approx(lo) and q_lo.prob is p.prob
    assert q_lo.frame_prob == p.frame_prob
    assert q_lo.mask.sum() > q_hi.mask.sum()
    assert not (q_lo.mask & ~(p.prob >= lo)).any()
    assert not (q_hi.mask & ~(p.prob >= hi)).any()
    with pytest.raises(AssertionError, match="must not run"):
        pred.predict(img)  # the patch really is active


def test_frame_prob_comes_from_head(predictor, rng):
    import torch

    img, _ = synthetic_frame(rng)
    p = predictor.predict(img)
    x, _ = predictor.prepare(img)
    from polypviewer.engine.runtime.preprocess import normalise

    with torch.inference_mode():
        _, logit = predictor.net(normalise(x, predictor.config))
    assert p.frame_prob == pytest.approx(torch.sigmoid(logit).item(), abs=1e-5)


def test_threshold_default_and_override(tiny_model_path):
    lm = load_model(tiny_model_path)
    assert Predictor(lm, device="cpu").threshold == pytest.approx(lm.threshold)
    assert Predictor(lm, device="cpu", threshold=0.8).threshold == pytest.approx(0.8)


def test_predict_places_polyp_where_it_is(predictor):
    """With a prob map built by hand, finish() puts it back at original coordinates."""
    box_img = np.zeros((50, 100, 3), np.uint8)
    _, box = predictor.prepare(box_img)
    prob_model = np.zeros((64, 64), np.float32)
    prob_model[24:40, 40:56] = 1.0  # right half of the letterboxed frame
    fp = predictor.finish(prob_model, 0.9, box)
    ys, xs = np.nonzero(fp.mask)
    assert fp.mask.shape == (50, 100)
    assert xs.min() > 55 and ys.mean() == pytest.approx(24.5, abs=2)
    assert fp.count == 1 and cv2.countNonZero(fp.mask.astype(np.uint8)) > 100


def test_analysis_size_override(tiny_model_path, tmp_path):
    """A smaller/larger analysis size: same weights, other model size, results at frame size."""
    from polypviewer.engine.runtime.backends.onnx_backend import candidate_paths
    from polypviewer.engine.runtime.results import AnalysisStore

    own = Predictor(tiny_model_path, device="cpu")
    big = Predictor(tiny_model_path, device="cpu", input_size=96)
    assert own.config.input_size == own.native_size == 64
    assert big.config.input_size == 96 and big.native_size == 64
    rgb, _ = synthetic_frame(np.random.default_rng(3), 120, 90)
    prep, _ = big.prepare(rgb)
    assert prep.shape == (96, 96, 3)
    pred = big.predict(rgb)
    assert pred.mask.shape == pred.prob.shape == (120, 90)
    assert not np.allclose(pred.prob, own.predict(rgb).prob)  # really ran at the other size
    # the model's own size given explicitly changes nothing
    same = Predictor(tiny_model_path, device="cpu", input_size=64)
    assert np.array_equal(same.predict(rgb).prob, own.predict(rgb).prob)
    # one ONNX graph per size, beside the model, never overwriting the model's own
    assert candidate_paths(big.loaded)[0].name == "tiny.96px.onnx"
    assert candidate_paths(own.loaded)[0].name == "tiny.onnx"
    # analysis caches of different sizes are kept apart
    img = tmp_path / "frame.png"
    cv2.imwrite(str(img), rgb[:, :, ::-1])
    a = AnalysisStore.open(str(img), own, root=tmp_path / "stores", n_frames=1)
    b = AnalysisStore.open(str(img), big, root=tmp_path / "stores", n_frames=1)
    assert a.folder != b.folder


@pytest.mark.parametrize("size", [100, 32, 2048, 0])
def test_analysis_size_rejected(tiny_model_path, size):
    with pytest.raises(ValueError, match="multiple of 32"):
        Predictor(tiny_model_path, device="cpu", input_size=size)
