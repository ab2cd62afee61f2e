"""The tracker's stages after detection, run a bounded number of frames behind the detector.

    detections (frame by frame) -> tracks (online association) -> side (vote over a track's
    first SIDE_WINDOW_FRAMES frames) -> shape (mean betas of those frames) -> per-frame hand
    parameters (pieces of PIECE_FRAMES frames) -> fixed-lag zero-phase smoothing -> final frames

Every whole-track decision of the offline tracker has a windowed form here, so frame t's
output depends only on frames <= t + a bounded lag (about SIDE_WINDOW_FRAMES +
SMOOTH_BLOCK_FRAMES + SMOOTH_LAG_FRAMES): association is online (a track's frames are final
once the detection after them came, or max_gap + 1 frames passed); a track's side is decided
from its first window (geometry + labels, `track.handedness`), and a track that overlaps an
already decided one of the same side takes the other side; tracks of one side that do not
overlap are joined (one identity per hand) and share the first one's shape; smoothing is
`filters.FixedLagSmoother`.

`LaggedTracker` holds the state. It does the same arithmetic in the same order whether it is
fed in line after detection or from a second thread while the detector runs (`track.pipeline`),
so the two give equal results. `on_frame` receives each frame once it is final, in order, with
its hands' final parameters (and vertices, when asked for): the streamed preview draws them.
Letters: T frames, J=21, V vertices, S shape parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .associate import BRIDGED_WEIGHT, _add, _dedupe, _Live, match_hands
from .filters import SMOOTH_BLOCK_FRAMES, FixedLagSmoother

# a track's side and shape come from its first 30 frames (1 s at 30 fps). Rendered clips, mean
# CS-MJE: 27.84 mm with 15 frames, 27.97 with 30, 27.87 with whole tracks (PA-MPJPE 7.08 each):
# within noise; 30 gives the side vote more frames.
SIDE_WINDOW_FRAMES = 30
PIECE_FRAMES = SMOOTH_BLOCK_FRAMES  # frames per network call; SIDE_WINDOW_FRAMES is a multiple


@dataclass(frozen=True)
class FrameHand:
    """One hand's final result at one frame (what the preview draws).

    keypoints_px: (J, 2) pixels (the detector's; interpolated on bridged frames).
    vertices_cam: (V, 3) metres, camera space, or None when not asked for.
    """

    track_id: int
    side: str
    detected: bool
    keypoints_px: np.ndarray
    vertices_cam: np.ndarray | None


@dataclass
class _Output:
    """One output track (one hand's identity; joined segments share it)."""

    track_id: int
    side: str
    estimator: object  # nn.estimator.TrackEstimator, None without estimation
    hand: object  # HandModel
    chains: list = field(default_factory=list)
    rows: dict = field(default_factory=lambda: {k: [] for k in _FIELDS})
    layer: object = None  # the KeypointLayer that recomputes smoothed keypoints
    cursor: int = 0  # the row `_row_of` looks at next


_FIELDS = ("frame_index", "timestamp_s", "global_orient", "hand_pose", "transl", "keypoints_px", "keypoints_cam",
           "keypoints_rel", "confidence", "score", "detected", "reprojection_px")


@dataclass
class _Chain:
    """One run of detections of one hand (an associated segment) and its progress through the stages."""

    live: _Live
    entries: list = field(default_factory=list)  # (frame, t, px (J,2), rel (J,3), weight, score, detected, label)
    detections: int = 0
    ended: bool = False
    dropped: bool = False
    skipped: bool = False  # its side was not asked for
    side: str | None = None
    output: _Output | None = None
    netted: int = 0  # entries through the network
    pieces: list = field(default_factory=list)  # network pieces not yet finished
    fits: list = field(default_factory=list)  # finished entries waiting for the smoother: (entry, fit row)
    smoother: FixedLagSmoother | None = None
    done: int = 0  # entries output

    @property
    def first(self) -> int:
        return self.entries[0][0]

    @property
    def last(self) -> int:
        return self.entries[-1][0]


class LaggedTracker:
    """Tracks built frame by frame, a bounded lag behind the detections (module docstring).

    Args:
        K: (3, 3) intrinsics used for the side decision (the assumed ones when unknown).
        new_estimator: side -> (`nn.estimator.TrackEstimator`, HandModel), or None to only
            associate and label (the caller estimates the finished tracks itself).
        hands: "both", "left" or "right": tracks of another side are not estimated.
        smoothing: `track.pipeline.FilterOptions`.
        on_frame: called as on_frame(frame_index, [FrameHand]) for every fed frame, in order,
            once it is final.
        vertices: with on_frame, side -> HandModel for the vertices (None: no vertices).
        max_gap, side_weight, max_cost, min_detections, duplicate_overlap: as for
            `associate.associate_tracks`.
    """

    def __init__(self, K, new_estimator: Callable | None, *, hands: str = "both", smoothing=None,
                 on_frame: Callable | None = None, vertices: Callable | None = None, max_gap: int = 8,
                 side_weight: float = 1.0, max_cost: float = 2.5, min_detections: int = 3,
                 duplicate_overlap: float = 0.1, side_window: int = SIDE_WINDOW_FRAMES, piece: int = PIECE_FRAMES):
        if side_window % piece:
            raise ValueError("side_window must be a multiple of piece")
        self.K = np.asarray(K, dtype=np.float64)
        self.new_estimator, self.hands, self.smoothing = new_estimator, hands, smoothing
        self.on_frame, self.vertices = on_frame, vertices
        self.max_gap, self.side_weight, self.max_cost = max_gap, side_weight, max_cost
        self.min_detections, self.duplicate_overlap = min_detections, duplicate_overlap
        self.side_window, self.piece = side_window, piece
        self.chains: list[_Chain] = []
        self.outputs: list[_Output] = []
        self.frames: list[int] = []  # fed frame indices not yet emitted
        self.last_index: int | None = None
        self.fed = 0
        self.with_hand = 0
        self._pending_verts: dict = {}  # (track_id, frame) -> (V, 3), until emitted

    # ------------------------------------------------------------------ feeding
    def feed(self, fd) -> None:
        """Add one frame's `FrameDetections` (frame indices increasing)."""
        from ..errors import InputError

        if self.last_index is not None and fd.index <= self.last_index:
            raise InputError(None, f"detections: frame indices must increase ({self.last_index} then {fd.index})")
        self.last_index = int(fd.index)
        self.fed += 1
        self.with_hand += bool(fd.hands)
        self.frames.append(int(fd.index))
        self._associate(fd)
        self._advance()
        self._emit(self._settled())

    def finish(self) -> list:
        """End every track, finish all frames; returns the `motion.Track`s (ids in order of creation)."""
        for ch in self.chains:
            self._end(ch)
        self._advance()
        self._emit(float("inf"))
        return self.tracks()

    # ------------------------------------------------------------------ association (online)
    def _live(self) -> list[_Chain]:
        return [c for c in self.chains if not c.ended]

    def _end(self, ch: _Chain) -> None:
        if not ch.ended:
            ch.ended = True
            ch.dropped = ch.detections < self.min_detections

    def _associate(self, fd) -> None:
        for ch in self._live():
            if fd.index - ch.live.frames[-1][0] > self.max_gap + 1:
                self._end(ch)
        live = self._live()
        hands = _dedupe(list(fd.hands), self.duplicate_overlap)
        if not hands:
            return
        matched = set()
        for i, j in match_hands([ch.live for ch in live], hands, fd.index, self.side_weight, self.max_cost):
            self._append(live[i], fd, hands[j])
            matched.add(j)
        for j, h in enumerate(hands):
            if j not in matched:
                ch = _Chain(_Live())
                self.chains.append(ch)
                self._append(ch, fd, h)

    def _append(self, ch: _Chain, fd, h) -> None:
        """A detection joins a chain; a gap of at most max_gap frames before it is bridged by
        interpolation (as `associate._to_arrays`)."""
        _add(ch.live, fd, h)
        kp = np.asarray(h.keypoints_px, dtype=np.float64)
        kr = np.asarray(h.keypoints_rel, dtype=np.float64)
        f, t, s = int(fd.index), float(fd.timestamp_s), float(h.score)
        if ch.entries:
            f0, t0, kp0, kr0, _, s0, _, _ = ch.entries[-1]
            if 1 < f - f0 <= self.max_gap + 1:
                for g in range(f0 + 1, f):
                    a = (g - f0) / (f - f0)
                    ch.entries.append((g, t0 + a * (t - t0), (1 - a) * kp0 + a * kp, (1 - a) * kr0 + a * kr,
                                       BRIDGED_WEIGHT * min(s0, s), 0.0, False, ""))
        ch.entries.append((f, t, kp, kr, s, s, True, h.handedness))
        ch.detections += 1

    # ------------------------------------------------------------------ the lagged stages
    def _advance(self) -> None:
        for ch in self.chains:
            if ch.dropped or ch.skipped:
                continue
            if ch.side is None:
                if ch.detections >= self.min_detections and (len(ch.entries) >= self.side_window or ch.ended):
                    self._decide_side(ch)
                if ch.side is None or ch.skipped:
                    continue
            if self.new_estimator is None:
                self._output_raw(ch)
                continue
            self._run_network(ch)
            est = ch.output.estimator
            if est.betas is None:
                first = ch.output.chains[0]
                if first.netted >= self.side_window or (first.ended and first.netted == len(first.entries)):
                    est.fix_shape([p for start, p in first.pieces if start < self.side_window])
            if est.betas is not None:
                self._finish_pieces(ch)
                self._smooth(ch)

    def _window(self, ch: _Chain, n: int):
        """Arrays of the chain's first n entries: px (n, J, 2), rel (n, J, 3), weights (n, J),
        score (n,), detected (n,), labels (n,)."""
        e = ch.entries[:n]
        return (np.stack([x[2] for x in e]), np.stack([x[3] for x in e]),
                np.repeat(np.array([x[4] for x in e])[:, None], 21, 1), np.array([x[5] for x in e]),
                np.array([x[6] for x in e], bool), np.array([x[7] for x in e]))

    def _decide_side(self, ch: _Chain) -> None:
        """The side its first window votes for (`handedness.relabel_tracks` on that window); a
        chain overlapping a decided one of the same side gives way; then join or new output."""
        from .handedness import side_evidence

        px, rel, w, score, det, labels = self._window(ch, self.side_window)
        ev = side_evidence(px, rel, w, self.K, labels, np.where(det, score, 0.5))
        side = "right" if float((det * ev.logit).sum()) >= 0 else "left"
        for other in self.chains:
            if other is ch or other.side != side or other.dropped:
                continue
            if other.first <= ch.last and ch.first <= (other.last if other.ended else self.last_index):
                side = "left" if side == "right" else "right"
                break
        ch.side = side
        if self.hands not in ("both", side):
            ch.skipped = True
            return
        target = next((o for o in self.outputs if o.side == side and all(c.ended for c in o.chains)
                       and o.chains[-1].last < ch.first), None)
        if target is None:
            estimator, hand = self.new_estimator(side) if self.new_estimator else (None, None)
            target = _Output(len(self.outputs), side, estimator, hand)
            self.outputs.append(target)
        target.chains.append(ch)
        ch.output = target
        if self.smoothing is not None and self.smoothing.enabled:
            ch.smoother = FixedLagSmoother(**self.smoothing.filter_args())

    def _run_network(self, ch: _Chain) -> None:
        while ch.netted < len(ch.entries) and (len(ch.entries) - ch.netted >= self.piece or ch.ended):
            n = min(self.piece, len(ch.entries) - ch.netted)
            e = ch.entries[ch.netted:ch.netted + n]
            piece = ch.output.estimator.network(np.stack([x[2] for x in e]), np.stack([x[3] for x in e]),
                                                np.repeat(np.array([x[4] for x in e], np.float32)[:, None], 21, 1))
            ch.pieces.append((ch.netted, piece))
            ch.netted += n

    def _finish_pieces(self, ch: _Chain) -> None:
        est = ch.output.estimator
        for start, piece in ch.pieces:
            fit = est.finish(piece)
            e = ch.entries[start:start + len(fit.global_orient)]
            ch.fits.append((start, fit))
            if ch.smoother is not None:
                ch.smoother.push(fit.global_orient, fit.hand_pose, fit.transl, [x[1] for x in e])
        ch.pieces = []

    def _smooth(self, ch: _Chain) -> None:
        """Hand the frames that became final to the output (smoothed, keypoints recomputed)."""
        if not ch.fits:
            return
        fit_rows = {}
        for start, fit in ch.fits:
            for i in range(len(fit.global_orient)):
                fit_rows[start + i] = (fit, i)
        if ch.smoother is None:
            n = sum(len(f.global_orient) for _, f in ch.fits)
            go = np.concatenate([f.global_orient for _, f in ch.fits])
            pose = np.concatenate([f.hand_pose for _, f in ch.fits])
            transl = np.concatenate([f.transl for _, f in ch.fits])
            kp = np.concatenate([f.keypoints_cam for _, f in ch.fits])
            ch.fits = []
        else:
            final = ch.ended and ch.netted == len(ch.entries) and not ch.pieces
            go, pose, transl = ch.smoother.pop(final=final)
            n = len(go)
            if n == 0:
                return
            kp = self._keypoints(ch.output, go, pose, transl)
            last = ch.done + n  # drop the fits fully output
            ch.fits = [(s, f) for s, f in ch.fits if s + len(f.global_orient) > last]
        rows = ch.output.rows
        f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
        for k in range(n):
            i = ch.done + k
            fit, r = fit_rows[i]
            frame, t, px, rel, _, score, det, _ = ch.entries[i]
            for name, value in (("frame_index", frame), ("timestamp_s", t), ("global_orient", f32(go[k])),
                                ("hand_pose", f32(pose[k])), ("transl", f32(transl[k])),
                                ("keypoints_px", f32(px)), ("keypoints_cam", f32(kp[k])), ("keypoints_rel", f32(rel)),
                                ("confidence", fit.confidence[r]), ("score", np.float32(score)), ("detected", det),
                                ("reprojection_px", fit.reprojection_px[r])):
                rows[name].append(value)
        if self.on_frame is not None and self.vertices is not None:
            verts = self._vertices(ch.output, rows, len(rows["frame_index"]) - n)
            for k in range(n):
                self._pending_verts[(ch.output.track_id, ch.entries[ch.done + k][0])] = verts[k]
        ch.done += n

    def _keypoints(self, out: _Output, go, pose, transl) -> np.ndarray:
        """(n, J, 3) camera-space keypoints of smoothed parameters (as `filters.smooth_track`)."""
        import torch

        from ..geometry.rotations import axis_angle_to_matrix
        from ..solve.fitting import KeypointLayer

        if out.layer is None:
            out.layer = KeypointLayer(out.hand, dtype=torch.float64)
        with torch.no_grad():
            kp = out.layer(axis_angle_to_matrix(torch.as_tensor(go)), torch.as_tensor(pose),
                            torch.as_tensor(out.estimator.betas.numpy(), dtype=torch.float64)).numpy()
        return kp + np.asarray(transl)[:, None]

    def _vertices(self, out: _Output, rows: dict, start: int) -> np.ndarray:
        import torch

        hand = self.vertices(out.side)
        n = len(rows["frame_index"]) - start
        with torch.no_grad():
            return hand(global_orient=np.stack(rows["global_orient"][start:]),
                        hand_pose=np.stack(rows["hand_pose"][start:]),
                        betas=np.repeat(out.estimator.betas.numpy()[None], n, 0),
                        transl=np.stack(rows["transl"][start:])).vertices.numpy()

    def _output_raw(self, ch: _Chain) -> None:
        """Without estimation: the associated frames as they become final."""
        end = len(ch.entries)
        rows = ch.output.rows
        for i in range(ch.done, end):
            frame, t, px, rel, w, score, det, _ = ch.entries[i]
            for name, value in (("frame_index", frame), ("timestamp_s", t), ("keypoints_px", px),
                                ("keypoints_rel", rel), ("confidence", w), ("score", score), ("detected", det)):
                rows[name].append(value)
        ch.done = end

    # ------------------------------------------------------------------ final frames
    def _settled(self) -> float:
        """The last frame index whose results can no longer change."""
        settled = float(self.last_index)
        for ch in self.chains:
            if ch.ended and (ch.dropped or ch.skipped or ch.done == len(ch.entries)):
                continue
            if ch.skipped:
                continue
            settled = min(settled, ch.entries[ch.done][0] - 1 if ch.done < len(ch.entries) else ch.last)
        return settled

    def _emit(self, settled: float) -> None:
        if self.on_frame is None:
            self.frames = []
            return
        while self.frames and self.frames[0] <= settled:
            f = self.frames.pop(0)
            hands = []
            for out in self.outputs:
                row = out.rows
                i = self._row_of(out, f)
                if i is None:
                    continue
                hands.append(FrameHand(out.track_id, out.side, bool(row["detected"][i]), row["keypoints_px"][i],
                                       self._pending_verts.pop((out.track_id, f), None)))
            self.on_frame(f, hands)

    def _row_of(self, out: _Output, frame: int):
        """The output row of `frame` (rows are in frame order): searched from the last one used."""
        idx = out.rows["frame_index"]
        cur = out.cursor
        while cur < len(idx) and idx[cur] < frame:
            cur += 1
        out.cursor = cur
        return cur if cur < len(idx) and idx[cur] == frame else None

    # ------------------------------------------------------------------ results
    def tracks(self) -> list:
        """The `motion.Track`s of the finished outputs, ids in the order their first stretch got its
        side; without estimation, `associate.RawTrack`s in that order."""
        from ..motion import Track
        from .associate import RawTrack

        result = []
        for out in self.outputs:
            r = {k: v for k, v in out.rows.items() if v}
            if not r:
                continue
            a = lambda name, dtype: np.asarray(np.stack(r[name]) if np.ndim(r[name][0]) else r[name], dtype=dtype)  # noqa: E731
            if out.estimator is None:
                det = a("detected", bool)
                result.append(RawTrack(
                    side=out.side, frame_index=a("frame_index", np.int64), timestamp_s=a("timestamp_s", np.float64),
                    keypoints_px=a("keypoints_px", np.float32), keypoints_rel=a("keypoints_rel", np.float32),
                    scores=np.repeat(a("confidence", np.float32)[:, None], 21, 1),
                    score=a("score", np.float32), detected=det,
                    handedness=np.array([e[7] for c in out.chains for e in c.entries])))
                continue
            result.append(Track(
                track_id=out.track_id, side=out.side, frame_index=a("frame_index", np.int64),
                timestamp_s=a("timestamp_s", np.float64), global_orient=a("global_orient", np.float32),
                hand_pose=a("hand_pose", np.float32), betas=out.estimator.betas.numpy().astype(np.float32),
                transl=a("transl", np.float32), keypoints_px=a("keypoints_px", np.float32),
                keypoints_cam=a("keypoints_cam", np.float32), keypoints_rel=a("keypoints_rel", np.float32),
                confidence=a("confidence", np.float32), score=a("score", np.float32), detected=a("detected", bool),
                reprojection_px=a("reprojection_px", np.float32)))
        return result


__all__ = ["FeedThread", "FrameHand", "LaggedTracker", "PIECE_FRAMES", "SIDE_WINDOW_FRAMES"]


class FeedThread:
    """Runs `consume(item)` for each `put` item in a second thread, in order, at most `depth`
    items behind (a bounded queue: memory stays flat). The detector releases the GIL, so the
    lagged stages (numpy, torch, OpenCV drawing; they mostly release it too) use the other core.

    put: raises the worker's error as soon as it failed. finish: waits for the last item and
    raises a failure. abort: stops at once (an error or interrupt in the caller); idempotent.
    """

    _END = object()

    def __init__(self, consume: Callable, depth: int = 8, name: str = "handmocap-lagged-stages"):
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, args=(consume,), name=name, daemon=True)
        self._thread.start()

    def _work(self, consume: Callable) -> None:
        while not self._stop.is_set():
            item = self._queue.get()
            if item is self._END:
                return
            try:
                consume(item)
            except BaseException as exc:  # raised in the caller's thread
                self.error = exc
                self._stop.set()
                return

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, item) -> None:
        import queue

        while True:
            self._raise()
            try:
                self._queue.put(item, timeout=0.05)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    self._raise()
                    raise RuntimeError("the lagged stages stopped")

    def finish(self) -> None:
        self.put(self._END)
        self._thread.join()
        self._raise()

    def abort(self) -> None:
        import queue

        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        try:
            self._queue.put_nowait(self._END)
        except queue.Full:
            pass
        self._thread.join(timeout=10)
