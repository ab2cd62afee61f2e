"""Accuracy on the people evaluation set (rendered anny bodies; `tools/render_eval_set.py`).

Stills: each image on its own with its own K, through the photos mode (`track_still`:
MediaPipe in IMAGE mode on the image and its mirrored / turned views, handedness from the
stills' classifier, the default estimator; `--no-still-views`: one plain look); the older
per-detection path (`rows_from_detections`, on the split's cached detections.npz) scores the
estimator alone on the detector's label. Clips: `track_input` with the true K.
Per view: hands found, handedness right, CS-MJE, PA-MPJPE, root (wrist) depth error
(+ = too far), each without and with the true hand length.

    python -m bench.eval_set [--split datasets/handeval/test] [--json out/bench/eval_set.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from handmocap.geometry.metrics import pa_mpjpe

SPLIT = Path("datasets/handeval/test")
VIEWS = ("palmar", "dorsal", "side", "egocentric", "over-the-shoulder")


def _estimate_one(px, rel, side, K, hand_length_m, estimator: str = "model", weights_path=None):
    """(21, 3) camera-space keypoints of one detected hand, the tracker's estimator on one frame."""
    from handmocap.hand import HandModel
    from handmocap.track.pipeline import TrackOptions, _estimator

    est = _estimator(TrackOptions(estimator=estimator))
    hand = HandModel(side=side)
    fit = est(px[None], rel[None], np.ones((1, 21)), np.asarray(K, np.float64), side, hand,
              hand_length_m=hand_length_m, device="cpu", batch_size=1, refine=False,
              **({"weights_path": weights_path} if weights_path else {}))
    return np.asarray(fit.keypoints_cam[0], np.float64)


def still_rows(split: Path = SPLIT, limit: int | None = None, estimator: str = "model",
               weights_path=None) -> list[dict]:
    """One row per still: view, found, handedness right, and errors (mm) without/with the true
    hand length; errors are NaN where the target hand was not found."""
    from training.detector_pairs import load_or_detect

    return rows_from_detections(load_or_detect(split), limit, estimator, weights_path)


def photo_rows(split: Path = SPLIT, limit: int | None = None, still_views: bool = True) -> list[dict]:
    """`still_rows` through the photos mode: `track_still` on each image with its own K
    (a `.calib` sidecar is not needed: K is given), its tracks matched to the GT hands by
    their 2D keypoints; handedness is the side `track_still` reports. Also per image: "extra"
    hands (tracks on no GT hand) and "ms" (the `track_still` call without the hand length).
    still_views: `TrackOptions.still_views` (False: one plain look, MediaPipe's label)."""
    import time
    from types import SimpleNamespace

    from handmocap.camera.intrinsics import Intrinsics
    from handmocap.track.pipeline import TrackOptions
    from handmocap.track.stills import track_still
    from training.detector_pairs import match

    split = Path(split)
    gt = dict(np.load(split / "stills.npz"))
    N = len(gt["image"]) if limit is None else min(limit, len(gt["image"]))
    rows = []
    for i in range(N):
        K = gt["K"][i]
        W, H = (int(v) for v in gt["image_size"][i])
        intr = Intrinsics(fx=float(K[0, 0]), fy=float(K[1, 1]), cx=float(K[0, 2]), cy=float(K[1, 2]),
                          width=W, height=H)
        slot = 0 if gt["side"][i] == "right" else 1
        row = {"view": str(gt["view"][i]), "side": str(gt["side"][i]), "found": False}
        px = gt["keypoints_px"][i]
        sizes = (px.max(1) - px.min(1)).max(1)
        for tag, L in (("", None), ("_L", float(gt["hand_length_m"][i]))):
            t0 = time.perf_counter()
            motion = track_still(split / str(gt["image"][i]), TrackOptions(intrinsics=intr, hand_length_m=L,
                                                                            still_views=still_views))
            tracks = [SimpleNamespace(keypoints_px=t.keypoints_px[0]) for t in motion.tracks]
            pairs = match(tracks, px, gt["in_view"][i], sizes)
            if not tag:
                row["ms"], row["extra"] = 1000 * (time.perf_counter() - t0), len(tracks) - len(pairs)
            hit = [next(k for k, x in enumerate(tracks) if x is d) for s, d, _ in pairs if s == slot]
            if not hit:
                break
            t = motion.tracks[hit[0]]
            row["found"], row["handedness_ok"] = True, t.side == row["side"]
            pred, ref = np.asarray(t.keypoints_cam[0], np.float64), gt["keypoints_cam"][i, slot]
            row["cs_mje" + tag] = 1000 * float(np.linalg.norm(pred - ref, axis=-1).mean())
            row["pa_mpjpe" + tag] = 1000 * float(np.asarray(pa_mpjpe(pred[None], ref[None])).mean())
            row["depth" + tag] = 1000 * float(pred[0, 2] - ref[0, 2])
        rows.append(row)
    return rows


def rows_from_detections(d: dict, limit: int | None = None, estimator: str = "model", weights_path=None) -> list[dict]:
    """`still_rows` on detections already made (`training.detector_pairs.detect_stills`)."""
    N = len(d["image"]) if limit is None else min(limit, len(d["image"]))
    rows = []
    for i in range(N):
        slot = 0 if d["side"][i] == "right" else 1
        row = {"view": str(d["view"][i]), "side": str(d["side"][i]), "found": bool(d["found"][i, slot])}
        if row["found"]:
            label = str(d["handedness"][i, slot])
            row["handedness_ok"] = label == row["side"]
            gt = d["gt_keypoints_cam"][i, slot]
            for tag, L in (("", None), ("_L", float(d["hand_length_m"][i]))):
                pred = _estimate_one(d["keypoints_px"][i, slot], d["keypoints_rel"][i, slot], label, d["K"][i], L,
                                     estimator, weights_path)
                row["cs_mje" + tag] = 1000 * float(np.linalg.norm(pred - gt, axis=-1).mean())
                row["pa_mpjpe" + tag] = 1000 * float(np.asarray(pa_mpjpe(pred[None], gt[None])).mean())
                row["depth" + tag] = 1000 * float(pred[0, 2] - gt[0, 2])
        rows.append(row)
    return rows


def summarise(rows: list[dict]) -> dict:
    """{group: figures} for every view and 'all'."""
    out = {}
    for view in VIEWS + ("all",):
        rs = [r for r in rows if view == "all" or r["view"] == view]
        if not rs:
            continue
        f = [r for r in rs if r["found"]]

        def mean(k):
            v = [r[k] for r in f if k in r]
            return float(np.mean(v)) if v else float("nan")

        out[view] = {"n": len(rs), "found": float(np.mean([r["found"] for r in rs])),
                     "handedness_ok": float(np.mean([r["handedness_ok"] for r in f])) if f else float("nan"),
                     **{k: mean(k) for k in ("cs_mje", "pa_mpjpe", "depth", "cs_mje_L", "pa_mpjpe_L", "depth_L")},
                     "pa_mpjpe_side_ok": float(np.mean([r["pa_mpjpe"] for r in f if r["handedness_ok"]]))
                     if any(r["handedness_ok"] for r in f) else float("nan")}
        if all("ms" in r for r in rs):  # photos mode: cost and extra detections per image
            out[view].update(ms=float(np.mean([r["ms"] for r in rs])), extra=float(np.mean([r["extra"] for r in rs])))
    return out


def clip_rows(split: Path = SPLIT, names: list[str] | None = None) -> dict:
    """{clip: figures} from `track_input` with the true K, without and with the hand length."""
    from bench.accuracy import ReplayDetector, metrics, record
    from handmocap.track.pipeline import TrackOptions, track_input

    out = {}
    for gt_path in sorted((split / "clips").glob("*.gt.npz")):
        name = gt_path.name[:-len(".gt.npz")]
        if names and name not in names:
            continue
        video, calib = gt_path.with_name(name + ".mp4"), gt_path.with_name(name + ".calib.json")
        gt = dict(np.load(gt_path))
        dets = record(video)
        res = {}
        for tag, L in (("", None), ("_L", float(gt["hand0_length_m"]))):
            motion = track_input(video, TrackOptions(intrinsics=calib, hand_length_m=L), detector=ReplayDetector(dets))
            m = metrics([t.keypoints_cam for t in motion.tracks], motion, gt, with_mesh=False)
            res["found" + tag] = m["found"]
            res["cs_mje" + tag] = m["cs_mje_mm"]
            res["pa_mpjpe" + tag] = m["pa_mpjpe_mm"]
            res.update({k + tag: v for k, v in _clip_extras(motion, gt).items()})
        out[name] = res
    return out


def _clip_extras(motion, gt) -> dict:
    """Per clip: every GT hand's track labelled with the true side, wrist depth error (mm),
    jitter (mean |second difference| of the keypoints, mm/frame^2) of the estimate on frames
    with consecutive detections and of the GT on the same frames."""
    sides_ok, depth, jit, jit_gt = [], [], [], []
    for h in range(int(gt["num_hands"])):
        side = str(gt[f"hand{h}_side"])
        gpx = gt[f"hand{h}_keypoints_px"]
        best, best_e = None, np.inf
        for t in motion.tracks:  # the track lying on this hand, whatever its label
            e = np.nanmean(np.linalg.norm(t.keypoints_px - gpx[t.frame_index], axis=-1))
            if e < best_e:
                best, best_e = t, e
        if best is None:
            sides_ok.append(False)
            continue
        sides_ok.append(best.side == side)
        kp = gt[f"hand{h}_keypoints_cam"][best.frame_index]
        depth.append(1000 * float(np.mean(best.keypoints_cam[:, 0, 2] - kp[:, 0, 2])))
        consecutive = np.diff(best.frame_index) == 1
        ok = consecutive[1:] & consecutive[:-1]
        if ok.any():
            a = best.keypoints_cam[2:] - 2 * best.keypoints_cam[1:-1] + best.keypoints_cam[:-2]
            g = kp[2:] - 2 * kp[1:-1] + kp[:-2]
            jit.append(1000 * np.linalg.norm(a[ok], axis=-1).mean())
            jit_gt.append(1000 * np.linalg.norm(g[ok], axis=-1).mean())
    return {"side_ok": bool(all(sides_ok)), "depth": float(np.mean(depth)) if depth else float("nan"),
            "jitter": float(np.mean(jit)) if jit else float("nan"),
            "jitter_gt": float(np.mean(jit_gt)) if jit_gt else float("nan")}


def table(stills: dict, clips: dict, label: str = "current model") -> str:
    """Markdown: per view (stills) and per clip."""
    head = ("| {} | n | hands found | handedness right | CS-MJE | PA-MPJPE | root depth | "
            "CS-MJE, true length | PA-MPJPE, true length | root depth, true length |")
    rows = [head.format(f"stills ({label})"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for view, s in stills.items():
        rows.append(f"| {view} | {s['n']} | {s['found']:.0%} | {s['handedness_ok']:.0%} | {s['cs_mje']:.1f} mm | "
                    f"{s['pa_mpjpe']:.1f} mm | {s['depth']:+.1f} mm | {s['cs_mje_L']:.1f} mm | {s['pa_mpjpe_L']:.1f} mm | "
                    f"{s['depth_L']:+.1f} mm |")
    if clips:
        rows += ["", f"| clip ({label}) | hands found | true side | CS-MJE | PA-MPJPE | root depth | jitter (GT's own) | "
                 "CS-MJE, true length | PA-MPJPE, true length | root depth, true length |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, c in clips.items():
            rows.append(f"| {name} | {c['found']:.0%} | {'yes' if c['side_ok'] else 'NO'} | {c['cs_mje']:.1f} mm | "
                        f"{c['pa_mpjpe']:.1f} mm | {c['depth']:+.1f} mm | {c['jitter']:.2f} ({c['jitter_gt']:.2f}) mm/f² | "
                        f"{c['cs_mje_L']:.1f} mm | {c['pa_mpjpe_L']:.1f} mm | {c['depth_L']:+.1f} mm |")
    return "\n".join(rows)


def run(split: Path = SPLIT, limit: int | None = None, clips: bool = True, clip_names=None,
        still_views: bool = True) -> dict:
    if not (split / "stills.npz").exists():
        return {}
    rows = photo_rows(split, limit, still_views)
    return {"split": str(split), "stills": summarise(rows),
            "clips": clip_rows(split, clip_names) if clips else {}}


BASELINE = Path(__file__).with_name("eval_set_baseline.json")
"""Stored figures on the test split, kept so reports show every model's row: the first model's
at the top level (label, stills, clips), later models' in `later_models` (a list of the same)."""


def stored_rows(path: Path = BASELINE) -> list[dict]:
    """[{label, stills, clips}] of the stored models, oldest first (empty without a file)."""
    if not path.exists():
        return []
    base = json.loads(path.read_text())
    return [{k: base[k] for k in ("label", "stills", "clips") if k in base}] + list(base.get("later_models", []))


def report(res: dict) -> str:
    """The current figures, with the stored models' (previous and later) beside them."""
    parts = [table(res["stills"], res["clips"], "current model")]
    for row in stored_rows():
        parts += ["", table(row["stills"], row["clips"], f"stored model, {row.get('label', '')}".rstrip(", "))]
    return "\n".join(parts)


def report_section(quick: bool = False, json_path: Path | None = None) -> str:
    """Markdown section for `python -m bench` (quick: 60 stills, one clip)."""
    res = run(SPLIT, 60 if quick else None, True, ["right_hand"] if quick else None)
    if not res:
        return f"(no evaluation set at {SPLIT}; render it with tools/render_eval_set.py)"
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(res, indent=2))
    return report(res)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", type=Path, default=SPLIT)
    ap.add_argument("--limit", type=int, default=None, help="first N stills only")
    ap.add_argument("--no-clips", action="store_true")
    ap.add_argument("--no-still-views", action="store_true", help="stills: one plain look, MediaPipe's label")
    ap.add_argument("--json", type=Path, default=Path("out/bench/eval_set.json"))
    a = ap.parse_args(argv)
    res = run(a.split, a.limit, not a.no_clips, still_views=not a.no_still_views)
    if not res:
        print(f"no evaluation set at {a.split} (render it with tools/render_eval_set.py)")
        return 1
    print(report(res))
    cost = {v: s for v, s in res["stills"].items() if "ms" in s}
    if cost:
        print("\nstills: extra hands per image (on no GT hand) / ms per image (track_still): "
              + ", ".join(f"{v} {s['extra']:.3f} / {s['ms']:.0f}" for v, s in cost.items()))
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
