"""Training loops: `python -m training.train keypoints|image --config FILE` (or `handmocap train`).

Config: YAML or JSON (`training/configs/*.yaml`), merged over `DEFAULTS[kind]`. Runs are
deterministic for a seed (one generator per step, seeded by (seed, step)), resumable (the
latest checkpoint `last.pt` in `out_dir` holds model, optimiser, scheduler and step; a rerun
continues from it), log every `log_every` steps to `log.csv` (and TensorBoard when installed)
and show a rich progress bar.
"""
from __future__ import annotations

import copy
import csv
import json
import math
import time
from pathlib import Path

import torch

from handmocap.errors import FormatError, InputError

DEFAULTS = {
    "keypoints": {
        "kind": "keypoints",
        "seed": 0,
        "out_dir": "training/runs/keypoints",
        "model": {"width": 384, "blocks": 3, "rectify": True, "translation": "dgp", "definition": "mediapipe"},
        "train_mode": "dgp",  # dgp | root | weak | rootrel (root-relative losses only)
        "data": {"scenes": 100000, "seed": 1},
        "noise": {},
        "optim": {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 256, "steps": 20000, "warmup": 300, "clip": 1.0},
        "loss": {"cs3d": 1.0, "rel3d": 1.0, "transl": 0.3, "cs2d": 3.0, "weak2d": 3.0, "rot": 1.0, "betas": 0.1,
                 "reg": 1e-3},
        "threads": 2,
        "time_limit_min": None,
        "log_every": 50,
        "ckpt_every": 500,
        "val": {"scenes": 512, "seed": 777},
    },
    "image": {
        "kind": "image",
        "seed": 0,
        "out_dir": "training/runs/image",
        "model": {"layers": [3, 4, 6, 3], "width": 64, "crop": 128, "heatmaps": False},
        "data": {"samples": 64, "seed": 1, "source": "render", "root": None},
        "optim": {"lr": 3e-4, "weight_decay": 1e-4, "batch_size": 8, "epochs": 1, "steps": None, "warmup": 0,
                  "clip": 1.0},
        "loss": {"kp2d": 1.0, "cs3d": 1.0, "rel3d": 1.0, "transl": 0.3, "consistency": 1.0, "vert2d": 1.0,
                 "mask": 0.1, "rot": 1.0, "betas": 0.1, "reg": 1e-3},
        "threads": 2,
        "time_limit_min": None,
        "log_every": 1,
        "ckpt_every": 100,
    },
}



def _optimizer_step(model, opt, sched, loss, clip: float) -> None:
    """One update: backward, gradient-norm clipping, optimiser and schedule step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    sched.step()

def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(path: str | Path | None, kind: str, overrides: dict | None = None) -> dict:
    """Read a YAML/JSON config and merge it over the defaults of `kind`."""
    if kind not in DEFAULTS:
        raise InputError(None, f"unknown model kind {kind!r} (use keypoints or image)")
    data = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "config file not found")
        text = path.read_text()
        try:
            if path.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import yaml

                data = yaml.safe_load(text) or {}
        except Exception as exc:  # yaml and json raise their own error types
            raise FormatError(path, f"malformed config ({exc.__class__.__name__}: {str(exc)[:120]})") from None
        if not isinstance(data, dict):
            raise FormatError(path, "config must be a mapping")
        if data.get("kind", kind) != kind:
            raise FormatError(path, f"config is for {data['kind']!r}, not {kind!r}")
    cfg = _merge(DEFAULTS[kind], data)
    return _merge(cfg, overrides or {})


class _Logger:
    """CSV (always) and TensorBoard (when installed) scalars."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / "log.csv"
        self.fields = None
        self.tb = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(out_dir / "tb"))
        except Exception:  # tensorboard is optional
            self.tb = None

    def log(self, step: int, values: dict):
        row = {"step": step, **{k: float(v) for k, v in values.items()}}
        new = not self.path.exists()
        if self.fields is None:
            self.fields = list(row)
            if not new:
                with self.path.open() as fh:
                    header = fh.readline().strip().split(",")
                self.fields = header if header and header[0] == "step" else self.fields
        with self.path.open("a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self.fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        if self.tb is not None:
            for k, v in row.items():
                if k != "step":
                    self.tb.add_scalar(k, v, step)

    def close(self):
        if self.tb is not None:
            self.tb.close()


def _lr_lambda(warmup: int, total: int):
    def f(step):
        if step < warmup:
            return (step + 1) / max(1, warmup)
        p = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p))  # cosine to 2% of the peak
    return f


def _resolve(path) -> Path:
    """A path relative to the repository root unless absolute or present as given."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else Path(__file__).resolve().parents[1] / p


def _progress(enabled: bool):
    if not enabled:
        return None
    try:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
    except ImportError:
        return None


# keypoint model -------------------------------------------------------------------------
def keypoint_setup(cfg: dict, hand_model=None):
    """Model, decoder, detector matrix and the training scenes of a keypoint config."""
    from handmocap.hand import HandModel
    from handmocap.nn.keypoint_model import KeypointDecoder, KeypointModel, KeypointModelConfig
    from handmocap.solve.detector_offsets import detector_matrix

    torch.manual_seed(int(cfg["seed"]))
    hand_model = hand_model or HandModel()
    mcfg = dict(cfg["model"])
    if cfg["train_mode"] in ("dgp", "root", "weak"):
        mcfg["translation"] = cfg["train_mode"]
    elif cfg["train_mode"] == "rootrel":
        mcfg["translation"] = "dgp"  # trained root-relative; DGP applied only at test time
    else:
        raise InputError(None, f"train_mode must be dgp, root, weak or rootrel, got {cfg['train_mode']!r}")
    model = KeypointModel(KeypointModelConfig(**mcfg))
    decoder = KeypointDecoder(hand_model)
    D = torch.tensor(detector_matrix(mcfg.get("definition", "mediapipe")), dtype=torch.float32)
    return model, decoder, D, hand_model


def keypoint_step_loss(model, decoder, D, scenes: dict, step_seed: int, cfg: dict, batch_idx=None,
                       pairs: dict | None = None, bank: dict | None = None) -> dict:
    """Losses of one batch (fresh detector noise from `step_seed`).

    With `pairs` (`training.pairs.load_detector_pairs`), a share `data.pairs.fraction` of the
    batch is real detector output with its ground truth instead of synthetic noise (1.0:
    detector output only; the synthetic-only / detector-only / both ablation). With `bank`
    (`training.borrowed_noise.error_bank` of the pairs), a share `data.borrowed.fraction` of
    the synthetic hands is seen through errors borrowed from real pairs instead of the
    hand-made noise model.
    """
    from handmocap.nn.keypoint_model import run_keypoint_model

    from .losses import keypoint_model_losses
    from .synthetic import NoiseConfig, detector_observation, index_scenes

    g = torch.Generator().manual_seed(int(step_seed))
    n = scenes["K"].shape[0]
    if batch_idx is None:
        batch_idx = torch.randint(0, n, (int(cfg["optim"]["batch_size"]),), generator=g)
    batch = index_scenes(scenes, batch_idx)
    obs = detector_observation(batch, g, NoiseConfig(**cfg.get("noise", {})))
    if bank is not None:
        from .borrowed_noise import borrow_into

        bc = cfg["data"]["borrowed"]
        obs = borrow_into(obs, batch, bank, float(bc.get("fraction", 0.3)), g, int(bc.get("k", 16)))
    if pairs is not None:
        from .pairs import mix_pairs

        pc = cfg["data"]["pairs"]
        batch, obs = mix_pairs(batch, obs, pairs, float(pc.get("fraction", 0.5)), g, float(pc.get("rotate_deg", 0.0)))
    mode = cfg["train_mode"]
    pred = run_keypoint_model(model, decoder, D, obs["keypoints_px"], obs["keypoints_rel"], obs["scores"], batch["K"],
                              mode="weak" if mode == "rootrel" else mode)
    return keypoint_model_losses(pred, batch, mode, cfg["loss"])


def train_keypoints(cfg: dict, resume: bool = True, progress: bool = True, max_steps: int | None = None) -> dict:
    """Train the keypoint model on synthetic scenes; returns a summary dict."""
    from handmocap.nn.checkpoint import load_checkpoint, save_checkpoint

    from .synthetic import SceneConfig, make_scenes

    torch.set_num_threads(int(cfg.get("threads", 2)))
    out_dir = Path(cfg["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    model, decoder, D, hand_model = keypoint_setup(cfg)
    t0 = time.time()
    scenes = make_scenes(int(cfg["data"]["scenes"]), int(cfg["data"]["seed"]), hand_model,
                         SceneConfig(**cfg["data"].get("scene", {})), definition=model.config.definition)
    pairs = None
    if cfg["data"].get("pairs"):
        from .pairs import load_detector_pairs

        pairs = load_detector_pairs(cfg["data"]["pairs"]["path"], hand_model, definition=model.config.definition)
    bank = None
    if cfg["data"].get("borrowed"):  # errors of the pairs, lent to synthetic hands
        from .borrowed_noise import error_bank

        if pairs is None:
            raise InputError(None, "data.borrowed needs data.pairs (the errors are the pairs')")
        bank = error_bank(pairs)
    val = make_scenes(int(cfg["val"]["scenes"]), int(cfg["val"]["seed"]), hand_model,
                      definition=model.config.definition)
    if cfg["val"].get("pairs"):  # held-out subjects' detector pairs: `best.pt` is chosen on them
        from .pairs import load_detector_pairs

        val["pairs"] = load_detector_pairs(cfg["val"]["pairs"], hand_model, definition=model.config.definition)
    data_s = time.time() - t0
    o = cfg["optim"]
    total = int(o["steps"])
    opt = torch.optim.AdamW(model.parameters(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(int(o["warmup"]), total))
    step = 0
    last = out_dir / "last.pt"
    if resume and last.exists():
        blob = load_checkpoint(last)
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["optimizer"]["opt"])
        sched.load_state_dict(blob["optimizer"]["sched"])
        step = int(blob["step"])
    elif cfg.get("init_from"):  # fine-tuning: start from another run's weights (a fresh optimiser)
        model.load_state_dict({k: v.float() for k, v in load_checkpoint(_resolve(cfg["init_from"]))["model"].items()})
    logger = _Logger(out_dir)
    seed = int(cfg["seed"])
    limit_s = None if cfg.get("time_limit_min") is None else 60.0 * float(cfg["time_limit_min"])
    stop_at = total if max_steps is None else min(total, step + int(max_steps))
    start = time.time()
    bar = _progress(progress)
    task = bar.add_task("keypoint model", total=total, completed=step, info="") if bar else None
    if bar:
        bar.start()

    def save(path):
        save_checkpoint(path, kind="keypoints", model_config=model.config.to_dict(), model_state=model.state_dict(),
                        optimizer_state={"opt": opt.state_dict(), "sched": sched.state_dict()}, step=step,
                        extra={"train_config": json.dumps(cfg), "elapsed_s": time.time() - start})

    running, last_val = {}, {}
    best = float("inf")
    model.train()
    try:
        while step < stop_at:
            losses = keypoint_step_loss(model, decoder, D, scenes, seed * 1_000_003 + step, cfg, pairs=pairs, bank=bank)
            _optimizer_step(model, opt, sched, losses["total"], float(o["clip"]))
            step += 1
            for k, v in losses.items():
                running[k] = running.get(k, 0.0) + float(v.detach())
            if step % int(cfg["log_every"]) == 0 or step == stop_at:
                n = int(cfg["log_every"]) if step % int(cfg["log_every"]) == 0 else (step % int(cfg["log_every"]))
                row = {k: v / max(1, n) for k, v in running.items()}
                running = {}
                if not last_val or step % (int(cfg["log_every"]) * 10) == 0 or step == stop_at:
                    last_val = {f"val_{k}": v for k, v in keypoint_validate(model, decoder, D, val, cfg).items()}
                    if last_val.get("val_pairs_pa_mpjpe_mm", float("inf")) < best:
                        best = last_val["val_pairs_pa_mpjpe_mm"]
                        save(out_dir / "best.pt")
                row.update(last_val)  # every row has the same columns (CSV header = first row)
                row["lr"] = sched.get_last_lr()[0]
                row["elapsed_s"] = time.time() - start
                logger.log(step, row)
                if bar:
                    bar.update(task, completed=step, info=f"loss {row['total']:.3f}")
            if step % int(cfg["ckpt_every"]) == 0:
                save(last)
            if limit_s is not None and time.time() - start > limit_s:
                break
    finally:
        if bar:
            bar.stop()
        logger.close()
    save(last)
    val_metrics = keypoint_validate(model, decoder, D, val, cfg)
    return {"step": step, "elapsed_s": time.time() - start, "data_s": data_s, "val": val_metrics,
            "checkpoint": str(last)}


@torch.no_grad()
def keypoint_validate(model, decoder, D, val: dict, cfg: dict) -> dict:
    """Camera-space keypoint error (mm) and root-relative error on the validation scenes
    (fixed detector noise)."""
    from handmocap.nn.keypoint_model import run_keypoint_model

    from .synthetic import NoiseConfig, detector_observation

    was = model.training
    model.eval()
    g = torch.Generator().manual_seed(int(cfg["val"]["seed"]))
    obs = detector_observation(val, g, NoiseConfig(**cfg.get("noise", {})))
    mode = "dgp" if cfg["train_mode"] == "rootrel" else cfg["train_mode"]
    pred = run_keypoint_model(model, decoder, D, obs["keypoints_px"], obs["keypoints_rel"], obs["scores"], val["K"],
                              mode=mode)
    cam = pred.keypoints_cam()
    cs = 1000 * (cam - val["keypoints_cam"]).norm(dim=-1).mean()
    rel = pred.keypoints_v - pred.keypoints_v[:, :1]
    gt = val["keypoints_cam"] @ pred.canonical.R.transpose(-1, -2)
    rr = 1000 * (rel - (gt - gt[:, :1])).norm(dim=-1).mean()
    out = {"cs_mje_mm": float(cs), "rr_mje_mm": float(rr)}
    if "pairs" in val:
        out.update(pairs_validate(model, decoder, D, val["pairs"], mode))
    model.train(was)
    return out


@torch.no_grad()
def pairs_validate(model, decoder, D, pairs: dict, mode: str = "dgp") -> dict:
    """PA-MPJPE and CS-MJE (mm) on detector pairs (`training.pairs.load_detector_pairs`), each
    hand on its own (per-hand shape, no hand length)."""
    from handmocap.geometry.metrics import pa_mpjpe
    from handmocap.nn.keypoint_model import run_keypoint_model

    pred = run_keypoint_model(model, decoder, D, pairs["keypoints_px"], pairs["keypoints_rel"], pairs["scores"],
                              pairs["K"], mode=mode)
    cam = pred.keypoints_cam()
    cs = 1000 * (cam - pairs["keypoints_cam"]).norm(dim=-1).mean()
    pa = 1000 * pa_mpjpe(cam.double(), pairs["keypoints_cam"].double()).mean()
    return {"pairs_pa_mpjpe_mm": float(pa), "pairs_cs_mje_mm": float(cs)}


# image model ----------------------------------------------------------------------------
def image_losses(model, hand_model, batch: dict, weights: dict) -> dict:
    """Boukhayma + HandDGP losses of the image model on a rendered batch (virtual camera)."""
    from handmocap.camera.pinhole import project
    from handmocap.nn.image_model import skin_vertices

    from . import losses as L

    out = model(batch["images"], batch["K"])
    S = batch["images"].shape[-1]
    size = torch.full((batch["images"].shape[0],), float(S), dtype=batch["images"].dtype)
    ok = out["valid"]
    transl = torch.where(ok[:, None], out["transl_v"], torch.zeros_like(out["transl_v"]))
    cam = out["keypoints_v"] + transl[:, None]
    rot = out["rotations"]
    verts = skin_vertices(hand_model, rot, out["betas"]) + transl[:, None]
    safe = lambda p: torch.cat([p[..., :2], p[..., 2:].clamp_min(1e-3)], -1)  # noqa: E731
    proj_kp = project(safe(cam), batch["K"])
    proj_v = project(safe(verts), batch["K"])
    terms = {
        "kp2d": L.l2d(out["keypoints_px"], batch["keypoints_px"], size),
        "cs3d": L.l3d(cam, batch["keypoints_cam"], root=None),
        "rel3d": L.l3d(out["keypoints_v"], batch["keypoints_cam"]),
        "transl": L.translation_rmse(cam[:, 0], batch["keypoints_cam"][:, 0]),
        "consistency": L.keypoint_consistency(out["keypoints_px"], proj_kp, size),
        "vert2d": L.vertex_l1_2d(proj_v, project(batch["vertices_cam"], batch["K"]), size),
        "mask": L.hand_mask_loss(proj_v, batch["masks"]),
        "rot": L.rotation_loss(rot, batch["rotations"]),
        "betas": ((out["betas"] - batch["betas"]) ** 2).mean(),
        "reg": L.parameter_regulariser(out["betas"], rot[:, 1:]),
    }
    terms["total"] = sum(weights.get(k, 0.0) * v for k, v in terms.items())
    return terms


def image_data(cfg: dict, hand_model) -> dict:
    """Rendered samples (data.source = render) or a dataset reader (freihand / ho3d)."""
    from .render_data import render_dataset

    d = cfg["data"]
    if d.get("source", "render") == "render":
        return render_dataset(int(d["samples"]), int(d["seed"]), hand_model, int(cfg["model"]["crop"]))
    from .datasets import load_image_dataset

    return load_image_dataset(d["source"], d["root"], hand_model, int(cfg["model"]["crop"]), limit=d.get("samples"))


def train_image(cfg: dict, resume: bool = True, progress: bool = True, max_steps: int | None = None) -> dict:
    """Train the image model (a GPU target; tiny configs run on CPU)."""
    from handmocap.hand import HandModel
    from handmocap.nn.checkpoint import load_checkpoint, save_checkpoint
    from handmocap.nn.image_model import ImageModel, ImageModelConfig, keypoint_heatmaps

    torch.set_num_threads(int(cfg.get("threads", 2)))
    torch.manual_seed(int(cfg["seed"]))
    device = torch.device(cfg.get("device", "cuda" if torch.cuda.is_available() else "cpu"))
    out_dir = Path(cfg["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(cfg, indent=2))
    hand = HandModel()
    mcfg = ImageModelConfig(**{**cfg["model"], "layers": tuple(cfg["model"]["layers"])})
    model = ImageModel(hand, mcfg).to(device)
    hand = hand.to(device)
    data = image_data(cfg, HandModel())
    n = data["images"].shape[0]
    o = cfg["optim"]
    bs = int(o["batch_size"])
    per_epoch = max(1, n // bs)
    total = int(o["steps"]) if o.get("steps") else per_epoch * int(o["epochs"])
    opt = torch.optim.AdamW(model.parameters(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(int(o["warmup"]), total))
    step = 0
    last = out_dir / "last.pt"
    if resume and last.exists():
        blob = load_checkpoint(last, map_location=device)
        model.load_state_dict(blob["model"])
        opt.load_state_dict(blob["optimizer"]["opt"])
        sched.load_state_dict(blob["optimizer"]["sched"])
        step = int(blob["step"])
    logger = _Logger(out_dir)
    start = time.time()
    stop_at = total if max_steps is None else min(total, step + int(max_steps))
    model.train()
    while step < stop_at:
        g = torch.Generator().manual_seed(int(cfg["seed"]) * 1_000_003 + step // per_epoch)
        perm = torch.randperm(n, generator=g)
        idx = perm[(step % per_epoch) * bs:(step % per_epoch + 1) * bs]
        batch = {k: v[idx].to(device) for k, v in data.items()}
        if mcfg.heatmaps:
            hm = keypoint_heatmaps(batch["keypoints_px"], batch["images"].shape[-1])
            batch["images"] = torch.cat([batch["images"], hm], 1)
        terms = image_losses(model, hand, batch, cfg["loss"])
        _optimizer_step(model, opt, sched, terms["total"], float(o["clip"]))
        step += 1
        if step % int(cfg["log_every"]) == 0 or step == stop_at:
            logger.log(step, {**{k: float(v.detach()) for k, v in terms.items()}, "elapsed_s": time.time() - start})
        if step % int(cfg["ckpt_every"]) == 0 or step == stop_at:
            save_checkpoint(last, kind="image", model_config=mcfg.to_dict(), model_state=model.state_dict(),
                            optimizer_state={"opt": opt.state_dict(), "sched": sched.state_dict()}, step=step)
    logger.close()
    return {"step": step, "elapsed_s": time.time() - start, "checkpoint": str(last), "samples": n}


def export_weights(checkpoint: str | Path, out: str | Path) -> Path:
    """Shipped weights from a training checkpoint: model only, float16."""
    from handmocap.nn.checkpoint import load_checkpoint, save_checkpoint

    blob = load_checkpoint(checkpoint)
    return save_checkpoint(out, kind=blob["kind"], model_config=blob["config"], model_state=blob["model"],
                           step=blob["step"], extra={"train_config": blob["extra"].get("train_config", "")}, half=True)


def train(kind: str, config: str | Path | None = None, overrides: dict | None = None, resume: bool = True,
          progress: bool = True, max_steps: int | None = None) -> dict:
    """Entry point shared by the CLI: load the config and run the loop for `kind`."""
    cfg = load_config(config, kind, overrides)
    if kind == "keypoints":
        return train_keypoints(cfg, resume=resume, progress=progress, max_steps=max_steps)
    return train_image(cfg, resume=resume, progress=progress, max_steps=max_steps)


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("kind", choices=sorted(DEFAULTS))
    p.add_argument("--config", default=None)
    p.add_argument("--out-dir", default=None)
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--export", default=None, help="after training, write shipped float16 weights here")
    p.add_argument("--export-from", default="last.pt", help="checkpoint of out_dir to export (last.pt or best.pt)")
    p.add_argument("--override", default=None, help='JSON merged over the config, e.g. \'{"data": {"pairs": null}}\'')
    a = p.parse_args(argv)
    over = json.loads(a.override) if a.override else {}
    if a.out_dir:
        over["out_dir"] = a.out_dir
    summary = train(a.kind, a.config, over, resume=not a.no_resume, progress=not a.no_progress)
    print(json.dumps(summary, indent=2))
    if a.export:
        print("exported", export_weights(Path(summary["checkpoint"]).with_name(a.export_from), a.export))


if __name__ == "__main__":
    main()
