"""Recipe of the stills' handedness classifier (`handmocap/track/still_side.json`).

    # 1. MediaPipe on every view of the TRAIN renders (needs the images; resumable)
    python -m training.still_views /work/main/datasets/handeval/train out/views_train.npz
    # 2. features of every detected hand matched to a GT hand -> the committed table, and the fit
    python -m training.still_side --views out/views_train.npz
    # the fit alone, from the committed table (what tests/track/test_still_side.py reproduces)
    python -m training.still_side

Samples: every hand `detect_still` would return (default retries and evidence views, replayed
from the cache) that lies on a GT hand (both hands of a still; the GT side is the label).
Model: logistic regression, L2 penalty `L2`, fitted by Newton's method (deterministic).
Cross-validation: 5 folds by subject (subject id mod 5); accuracy is reported for the target
hands (the hand each still was rendered for, as bench.eval_set scores them) per camera view.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np

TABLE = Path("datasets/handeval/train/still_side_features.npz")
L2 = 1.0
FOLDS = 5


def feature_table(cache: dict, retries, evidence) -> dict:
    """{features (S, F), right (S,) bool, subject (S,), view (S,) str, target (S,) bool,
    label_right (S,) bool (MediaPipe's label of the view that found the hand)} from a views cache."""
    from types import SimpleNamespace

    from handmocap.detect.retry import merge_views
    from handmocap.track.still_side import side_features
    from training.detector_pairs import match
    from training.still_views import cached_views, gt_sizes, simulate_still

    sizes = gt_sizes(cache)
    rows = {"features": [], "right": [], "subject": [], "view": [], "target": [], "label_right": []}
    for i in range(len(cache["image"])):
        ran, _ = simulate_still(cached_views(cache, i), retries, evidence)
        hands, _ = merge_views(ran)
        boxes = [SimpleNamespace(keypoints_px=h.keypoints_px, k=k) for k, h in enumerate(hands)]
        target = 0 if cache["side"][i] == "right" else 1
        for slot, box, _ in match(boxes, cache["gt_keypoints_px"][i], cache["gt_in_view"][i], sizes[i]):
            hand = hands[box.k]
            rows["features"].append(side_features(hand, ran, cache["K"][i]))
            rows["right"].append(slot == 0)
            rows["subject"].append(int(cache["subject"][i]))
            rows["view"].append(str(cache["view"][i]))
            rows["target"].append(slot == target)
            rows["label_right"].append(hand.handedness == "right")
    return {k: np.asarray(v) for k, v in rows.items()}


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 50) -> tuple[np.ndarray, float]:
    """(weights (F,), bias) of an L2-penalised logistic regression (bias not penalised).

    X: (S, F); y: (S,) bool."""
    A = np.concatenate([X, np.ones((len(X), 1))], 1)
    w = np.zeros(A.shape[1])
    P = np.eye(A.shape[1]) * l2
    P[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(A @ w)))
        g = A.T @ (p - y) + P @ w
        H = A.T @ (A * (p * (1 - p))[:, None]) + P + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w[:-1], float(w[-1])


def cross_validate(table: dict, columns=None, l2: float = L2) -> np.ndarray:
    """(S,) out-of-fold log-odds for "right" (folds by subject id mod FOLDS)."""
    X = table["features"] if columns is None else table["features"][:, columns]
    fold = table["subject"] % FOLDS
    out = np.zeros(len(X))
    for f in range(FOLDS):
        test = fold == f
        w, b = fit_logistic(X[~test], table["right"][~test], l2)
        out[test] = X[test] @ w + b
    return out


def report(table: dict, logits: np.ndarray, name: str) -> str:
    """One line: accuracy on the target hands, all and per camera view."""
    from bench.eval_set import VIEWS

    ok = (logits >= 0) == table["right"]
    t = table["target"]
    per = " ".join(f"{100 * ok[t & (table['view'] == v)].mean():5.1f}" for v in VIEWS)
    return f"{name:34s} {100 * ok[t].mean():5.1f}  {per}   (all hands {100 * ok.mean():5.1f}, n={int(t.sum())})"


def main(argv: list[str] | None = None) -> int:
    from handmocap.export.mesh import write_atomic
    from handmocap.track.still_side import FEATURES, WEIGHTS_PATH
    from handmocap.track.stills import STILL_EVIDENCE, STILL_RETRIES

    ap = argparse.ArgumentParser(description="fit the stills' handedness classifier")
    ap.add_argument("--views", type=Path, default=None, help="views cache: rebuild the feature table from it")
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    a = ap.parse_args(argv)
    if a.views is not None:
        table = feature_table(dict(np.load(a.views)), STILL_RETRIES, STILL_EVIDENCE)
        buf = io.BytesIO()
        np.savez_compressed(buf, **table)
        write_atomic(a.table, buf.getvalue())
    table = dict(np.load(a.table))
    print(f"{len(table['right'])} hands ({int(table['target'].sum())} target hands); accuracy % "
          "(target hands: all, palmar dorsal side egocentric over-the-shoulder)")
    label = np.where(table["label_right"], 1.0, -1.0)
    print(report(table, label, "MediaPipe's label"))
    F = len(FEATURES)
    for name, cols in (("plain + flip labels", [0, 1]), ("labels of every view", list(range(F - 3))),
                       ("chirality only", [F - 3, F - 2]), ("geometry only", [F - 1]),
                       ("labels + geometry", list(range(F - 3)) + [F - 1]),
                       ("all features (shipped)", list(range(F)))):
        print(report(table, cross_validate(table, cols), name + " (CV)"))
    w, b = fit_logistic(table["features"], table["right"])
    weights = {"features": list(FEATURES), "weights": [round(float(v), 6) for v in w], "bias": round(b, 6),
               "samples": int(len(table["right"])), "l2": L2,
               "recipe": "python -m training.still_side (table: datasets/handeval/train/still_side_features.npz)"}
    write_atomic(a.out, (json.dumps(weights, indent=1) + "\n").encode("utf-8"))
    print(f"wrote {a.out}: " + ", ".join(f"{n} {v:+.3f}" for n, v in zip(FEATURES, w)) + f", bias {b:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
