"""The keypoint model on exact input: how much of good input it uses.

    python -m training.evaluate_exact [--checkpoint FILE] [--n 2000] [--refine]

Held-out synthetic hands (own seed, and poses and shapes beyond the training sampler's usual
range: 50% joint-limit sampler, off-axis pose noise 0.15 rad instead of 0.06, shapes
N(0, 1.5^2)) seen by a perfect detector: its 2D keypoints are the exact projection of the
landmarks in the detector's definition (`solve.detector_offsets`), its metric 3D keypoints
the exact landmarks (camera-aligned, centred), every score 1. Prints PA-MPJPE (mm) of the
model's 21 keypoints against the ground truth (the network alone), of the default estimator
(`nn.estimator.estimate_track`: trusted input refined, on the first 300 hands) and with
`--refine` of the refinement that starts from the network on every hand
(`solve.refine.refine_frames`).
"""
from __future__ import annotations

import json
import time

import numpy as np
import torch

EXACT_SEED = 31337
EXACT_SCENES = 2000


def exact_scene_config():
    """Poses and shapes beyond the training sampler's usual range (module docstring)."""
    from .synthetic import SceneConfig

    return SceneConfig(limits_fraction=0.5, pose_noise=0.15, betas_std=1.5)


def exact_set(hand_model, n: int = EXACT_SCENES, seed: int = EXACT_SEED) -> tuple[dict, dict]:
    """Held-out scenes and a perfect detector's observation of them.

    Returns (scenes, obs): obs keypoints_px (N, J, 2) pixels, keypoints_rel (N, J, 3) metres
    (centred), scores (N, J) ones.
    """
    from handmocap.camera.pinhole import project

    from .synthetic import make_scenes

    scenes = make_scenes(n, seed, hand_model, exact_scene_config())
    lm = scenes["landmarks_cam"]
    obs = {"keypoints_px": project(lm, scenes["K"]), "keypoints_rel": lm - lm.mean(1, keepdim=True),
           "scores": torch.ones(lm.shape[:2])}
    return scenes, obs


@torch.no_grad()
def model_prediction(checkpoint, hand_model, scenes, obs) -> dict:
    """Per-frame predictions of a keypoint-model checkpoint (None: shipped weights)."""
    from handmocap.nn.checkpoint import load_keypoint_model
    from handmocap.nn.estimator import predict_right
    from handmocap.nn.keypoint_model import KeypointDecoder
    from handmocap.solve.detector_offsets import detector_matrix

    model = load_keypoint_model(checkpoint)
    dec = KeypointDecoder(hand_model)
    D = torch.tensor(detector_matrix(model.config.definition), dtype=torch.float32)
    return predict_right(model, dec, D, obs["keypoints_px"], obs["keypoints_rel"], obs["scores"], scenes["K"], 500,
                         shared_betas=False)


def pa_mm(keypoints_cam: torch.Tensor, scenes: dict) -> float:
    from handmocap.geometry.metrics import pa_mpjpe

    return 1000 * float(pa_mpjpe(keypoints_cam.double(), scenes["keypoints_cam"].double()).mean())


def default_estimator_pa(checkpoint, hand_model, scenes, obs, n: int) -> float:
    """PA-MPJPE (mm) of `estimate_track` with its defaults (each of the first n hands a track of
    its own: trusted input is refined, `nn.estimator.AUTO_REFINE_TRUST`)."""
    from handmocap.nn.estimator import estimate_track

    kp = [estimate_track(obs["keypoints_px"][i:i + 1], obs["keypoints_rel"][i:i + 1], obs["scores"][i:i + 1],
                         scenes["K"][i], "right", hand_model, weights_path=checkpoint).keypoints_cam for i in range(n)]
    return pa_mm(torch.as_tensor(np.concatenate(kp)), {"keypoints_cam": scenes["keypoints_cam"][:n]})


def run(checkpoint=None, n: int = EXACT_SCENES, refine: bool = False, default_n: int = 300) -> dict:
    from handmocap.hand import HandModel

    torch.set_num_threads(1)
    hand = HandModel()
    scenes, obs = exact_set(hand, n)
    t0 = time.time()
    p = model_prediction(checkpoint, hand, scenes, obs)
    out = {"hands": n, "model_pa_mpjpe_mm": pa_mm(p["keypoints_cam"], scenes), "model_s": time.time() - t0}
    if default_n:
        t0 = time.time()
        out["default_hands"] = min(default_n, n)
        out["default_pa_mpjpe_mm"] = default_estimator_pa(checkpoint, hand, scenes, obs, out["default_hands"])
        out["default_s"] = time.time() - t0
    if refine:
        from handmocap.solve.refine import refine_frames

        t0 = time.time()
        r = refine_frames(obs["keypoints_px"], obs["keypoints_rel"], obs["scores"], scenes["K"], hand, p)
        out["refined_pa_mpjpe_mm"] = pa_mm(torch.as_tensor(r.keypoints_cam), scenes)
        out["refine_s"] = time.time() - t0
    return out


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--n", type=int, default=EXACT_SCENES)
    ap.add_argument("--refine", action="store_true")
    a = ap.parse_args(argv)
    print(json.dumps(run(a.checkpoint, a.n, a.refine), indent=2))


if __name__ == "__main__":
    main()
