"""Hand parameters of a track from the learned keypoint model (the tracker's default estimator).

`estimate_track` has the signature and result type of `solve.fitting.fit_track`:

    detections (T frames) -> left hands mirrored into right hands -> keypoint model (rectified,
    batched) -> one shape for the track (score-weighted mean of the per-frame betas, or the
    known hand length) -> hand-model keypoints -> DGP translation in each frame's virtual
    camera with the predicted weights -> back to the real camera -> mirrored back -> FitResult

With `refine=True` the refinement of `solve.refine` runs afterwards, warm-started from the
model's output: it fits the keypoints, trusting the detector's 3D only as far as it agrees
with its 2D (exact input is used fully; MediaPipe's is mostly left to the model).
Unknown intrinsics (K=None): the assumed camera of `camera.weak_perspective` (60 degrees
across the larger side), as for fitting.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

import torch

from ..camera.pinhole import project
from ..errors import InputError
from ..geometry.rotations import matrix_to_axis_angle
from ..hand.mirror import mirror_axis_angle, mirror_points
from ..solve.detector_offsets import detector_matrix
from ..solve.fitting import FitResult, as_track_tensor, check_track_inputs, hand_size_px
from .checkpoint import default_weights_path, load_keypoint_model
from .keypoint_model import KeypointDecoder, canonical_input, translate



@contextmanager
def _one_cpu_thread(device: torch.device):
    """Small batched ops run faster on one intra-op thread than two on a 2-core machine
    (the fitter measured the same); GPUs are unaffected."""
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@lru_cache(maxsize=4)
def _cached_model(path: str, device: str):
    return load_keypoint_model(path, device=device)


def _right_model(hand_model):
    """The right-hand counterpart of `hand_model` (itself for right hands)."""
    if hand_model.side == "right":
        return hand_model
    from ..hand import HandModel, mirror_asset

    return HandModel(mirror_asset(hand_model.asset), flat_hand_mean=hand_model.flat_hand_mean)


def _camera(K, intrinsics, image_size, device):
    if K is not None:
        return as_track_tensor("K", K, torch.float32, device), "perspective"
    from ..camera.weak_perspective import assumed_intrinsics

    if intrinsics is not None:
        return intrinsics.K(dtype=torch.float32, device=device), "weak_perspective"
    if image_size is None:
        raise InputError(None, "estimate_track: with unknown intrinsics (K=None) give `intrinsics` or `image_size`")
    return assumed_intrinsics(int(image_size[0]), int(image_size[1])).K(dtype=torch.float32, device=device), \
        "weak_perspective"


@torch.no_grad()
def predict_right(model, decoder, D, px, rel, sc, K, batch_size: int, hand_length_m=None, shared_betas: bool = True,
                  mode: str | None = None):
    """Right hands, real camera. px (T, J, 2), rel (T, J, 3), sc (T, J), K (3, 3) or (T, 3, 3).

    Args:
        shared_betas: one shape for all T frames (a track); False: per-frame shapes.
        mode: translation mode (default the model's: "dgp").

    Returns dict: global_orient (T, 3), hand_pose (T, 45), betas (T, S), transl (T, 3)
    (HandModel convention), keypoints_cam (T, J, 3), landmarks_cam (T, J, 3), weights (T, J),
    valid (T,).
    """
    T = px.shape[0]
    mode = mode or model.config.translation
    chunks = []
    for s in range(0, T, batch_size):
        sl = slice(s, min(T, s + batch_size))
        Kb = K if K.dim() == 2 else K[sl]
        ci = canonical_input(px[sl], rel[sl], sc[sl], Kb, model.config.rectify)
        chunks.append((sl, ci, model(ci.features)))
    beta = torch.cat([out["betas"] for _, _, out in chunks])
    if shared_betas:  # one shape per track: frames weighted by their mean score
        fw = torch.cat([ci.weights for _, ci, _ in chunks]).mean(-1) + 1e-6
        beta = ((fw[:, None] * beta).sum(0) / fw.sum())[None].expand(T, -1).clone()
    if hand_length_m is not None:
        beta[:, 0] = decoder.layer.beta0_for_length(beta[0, 1:].to(decoder.J_template.dtype), float(hand_length_m))
    res = {k: [] for k in ("rot", "kp", "lm", "t_v", "valid", "w", "R")}
    for sl, ci, out in chunks:
        kp = decoder(out["rotations"], beta[sl])
        lm = D @ kp
        w = torch.sigmoid(out["weight_logits"])
        t_v, _, _, valid = translate(mode, lm, w, out, ci)
        for k, v in zip(res, (out["rotations"], kp, lm, t_v, valid, w, ci.R)):
            res[k].append(v)
    rot, kp, lm, t_v, valid, w, R = (torch.cat(res[k]) for k in res)
    if bool((~valid).any()) and bool(valid.any()):  # e.g. no usable keypoint: nearest valid frame
        good = torch.nonzero(valid)[:, 0]
        nearest = good[(torch.arange(T, device=px.device)[:, None] - good[None]).abs().argmin(1)]
        t_v = torch.where(valid[:, None], t_v, t_v[nearest])
    Rt = R.transpose(-1, -2)
    kp_cam = (kp + t_v[:, None]) @ R
    lm_cam = (lm + t_v[:, None]) @ R
    J0 = decoder.rest(beta)[0][:, 0]  # rest wrist: the root rotates about it
    transl = (Rt @ (t_v + J0)[..., None])[..., 0] - J0
    go = matrix_to_axis_angle(Rt @ rot[:, 0])
    pose = matrix_to_axis_angle(rot[:, 1:]).reshape(T, 45) - decoder.hands_mean.reshape(1, 45)
    return {"global_orient": go, "hand_pose": pose, "betas": beta, "transl": transl, "keypoints_cam": kp_cam,
            "landmarks_cam": lm_cam, "weights": w, "valid": valid}


def _refine(px, rel, sc, K, hand_model, init: dict, camera: str, options=None):
    """Refinement by fitting (`solve.refine`), warm-started from the model's output (already
    on the track's side); the track's shape stays the model's."""
    from ..solve.refine import refine_frames

    return refine_frames(px, rel, sc, K, hand_model, init, options=options, camera=camera)


def estimate_track(keypoints_px, keypoints_rel, scores, K, side: str, hand_model, *, hand_length_m: float | None = None,
                   device: str | torch.device = "cpu", batch_size: int = 256, refine: bool = False, intrinsics=None,
                   image_size: tuple[int, int] | None = None, weights_path=None, refine_options=None,
                   **_ignored) -> FitResult:
    """Hand parameters of one track from the keypoint model.

    Args:
        keypoints_px: (T, 21, 2) pixels, undistorted, pixel centres (the detector's landmarks).
        keypoints_rel: (T, 21, 3) metres, the detector's metric landmarks, camera-aligned.
        scores: (T, 21) or (T,) confidences in [0, 1] (0 or NaN keypoints are ignored).
        K: (3, 3) intrinsics or None (unknown: `intrinsics`, e.g. the assumed ones, or `image_size`).
        side: "right" or "left", must match `hand_model.side`.
        hand_model: the `HandModel` whose parameters are returned.
        hand_length_m: known wrist-to-middle-fingertip length (metres): fixes size and depth.
        device: torch device for the network.  batch_size: frames per network batch.
        refine: refine by fitting afterwards (`solve.refine`), starting from the model's
            output; the track's shape stays the model's.
        refine_options: `solve.refine.RefineOptions` (None: defaults).
        weights_path: a keypoint-model checkpoint (None: the shipped weights).

    Returns:
        `solve.fitting.FitResult` (numpy float32).
    """
    with _one_cpu_thread(torch.device(device)):
        return _estimate_track(keypoints_px, keypoints_rel, scores, K, side, hand_model, hand_length_m=hand_length_m,
                               device=device, batch_size=batch_size, refine=refine, intrinsics=intrinsics,
                               image_size=image_size, weights_path=weights_path, refine_options=refine_options)


def _estimate_track(keypoints_px, keypoints_rel, scores, K, side: str, hand_model, *, hand_length_m: float | None = None,
                   device: str | torch.device = "cpu", batch_size: int = 256, refine: bool = False, intrinsics=None,
                   image_size: tuple[int, int] | None = None, weights_path=None, refine_options=None,
                   **_ignored) -> FitResult:
    if batch_size < 1:
        raise InputError(None, f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    px, rel, sc = (as_track_tensor(n, x, torch.float32, device) for n, x in
                   (("keypoints_px", keypoints_px), ("keypoints_rel", keypoints_rel), ("scores", scores)))
    Kt = None if K is None else as_track_tensor("K", K, torch.float32, device)
    sc = check_track_inputs(px, rel, sc, Kt, side, hand_model, hand_length_m, caller="estimate_track")
    camera_K, camera = _camera(Kt, intrinsics, image_size, device)
    path = str(default_weights_path() if weights_path is None else weights_path)
    model = _cached_model(path, str(device))
    right = _right_model(hand_model)
    decoder = KeypointDecoder(right).to(device)
    D = torch.tensor(detector_matrix(model.config.definition), dtype=torch.float32, device=device)

    finite = torch.isfinite(px).all(-1) & torch.isfinite(rel).all(-1) & torch.isfinite(sc)
    w_in = torch.where(finite, sc.clamp(0, 1), torch.zeros_like(sc))
    px_obs = torch.where(finite[..., None], px, torch.zeros_like(px))  # as seen, for the residuals
    px_in = px_obs
    rel_in = torch.where(finite[..., None], rel, torch.zeros_like(rel))
    if side == "left":  # mirror about the principal point: the rays' x flips, K unchanged
        cx = camera_K[0, 2]
        px_in = torch.stack([2 * cx - px_in[..., 0], px_in[..., 1]], -1)
        rel_in = mirror_points(rel_in)
    p = predict_right(model, decoder, D, px_in, rel_in, w_in, camera_K, batch_size, hand_length_m)
    if side == "left":
        p["global_orient"] = mirror_axis_angle(p["global_orient"])
        p["hand_pose"] = mirror_axis_angle(p["hand_pose"])
        for k in ("transl", "keypoints_cam", "landmarks_cam"):
            p[k] = mirror_points(p[k])

    if refine:
        rel_obs = torch.where(finite[..., None], rel, torch.zeros_like(rel))
        return _refine(px_obs, rel_obs, w_in, camera_K, hand_model, {k: p[k] for k in ("global_orient", "hand_pose")} |
                       {"betas": p["betas"][0]}, camera, refine_options)

    # residuals against the observed keypoints: the outputs are back on the track's own side
    err = (project(p["landmarks_cam"], camera_K) - px_obs).norm(dim=-1)
    use = w_in > 0
    reproj = torch.where(use, err, torch.zeros_like(err)).sum(-1) / use.sum(-1).clamp_min(1)
    size = hand_size_px(px_obs, w_in)
    conf = w_in * p["weights"] * torch.exp(-0.5 * (err / (0.1 * size[:, None])) ** 2)
    f32 = lambda t: t.detach().to("cpu", torch.float32).numpy()  # noqa: E731
    return FitResult(global_orient=f32(p["global_orient"]), hand_pose=f32(p["hand_pose"]), betas=f32(p["betas"][0]),
                     transl=f32(p["transl"]), keypoints_cam=f32(p["keypoints_cam"]), confidence=f32(conf),
                     reprojection_px=f32(reproj), camera=camera)


__all__ = ["estimate_track", "predict_right"]
