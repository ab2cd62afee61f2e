"""Track Video...: run the installed `handmocap track` on a video in the background, show
its progress (status bar, progress cursor, the sidebar panel), Esc cancels, and import the
motion it wrote. The tracker is a separate program (see core/tracking.py): the add-on
never imports torch or MediaPipe."""
from __future__ import annotations

from pathlib import Path

import bpy
from bpy_extras.io_utils import ImportHelper

from .core.tracking import TrackerNotFound, TrackingError, TrackJob, TrackOptions, find_tracker, \
    track_command
from .operators import USER_ERRORS
from .preferences import hand_model_path, tracker_path

VIDEO_GLOB = "*.mp4;*.mov;*.avi;*.mkv;*.webm;*.m4v;*.mpg;*.mpeg"
# the job the UI shows (one at a time): the sidebar panel draws its progress
ACTIVE = {"job": None, "name": ""}


class HANDMOCAP_OT_track_video(bpy.types.Operator, ImportHelper):
    """Track the hands in a video with the installed handmocap command, in the background
    (Esc cancels), then import the motion"""

    bl_idname = "handmocap.track_video"
    bl_label = "Track Video..."
    bl_options = {"REGISTER", "UNDO"}
    filter_glob: bpy.props.StringProperty(default=VIDEO_GLOB, options={"HIDDEN"})
    out_dir: bpy.props.StringProperty(
        name="Output folder", subtype="DIR_PATH", default="",
        description="Where the motion file goes; empty = a 'handmocap' folder next to the video")
    hands: bpy.props.EnumProperty(name="Hands", items=[
        ("both", "Both", ""), ("right", "Right", ""), ("left", "Left", "")], default="both")
    intrinsics: bpy.props.EnumProperty(name="Camera", items=[
        ("AUTO", "Assumed", "The tracker's default field of view (depth is then approximate)"),
        ("FOV", "Field of view", "Horizontal field of view in degrees"),
        ("PIXELS", "Focal length (px)", "fx, fy, cx, cy in pixels"),
        ("CALIB", "Calibration file", "OpenCV calibration (JSON/YAML), e.g. from `handmocap calibrate`")],
        default="AUTO")
    fov: bpy.props.FloatProperty(name="FOV (deg)", default=60.0, min=1.0, max=179.0)
    fx: bpy.props.FloatProperty(name="fx", default=1000.0, min=1.0)
    fy: bpy.props.FloatProperty(name="fy", default=0.0, min=0.0, description="0 = fx")
    cx: bpy.props.FloatProperty(name="cx", default=0.0, min=0.0)
    cy: bpy.props.FloatProperty(name="cy", default=0.0, min=0.0)
    calib_path: bpy.props.StringProperty(name="Calibration", subtype="FILE_PATH", default="")
    estimator: bpy.props.EnumProperty(name="Estimator", items=[
        ("model", "Learned model", "Fast (default)"), ("fitting", "Fitting", "Slower, fits the keypoints")],
        default="model")
    smooth: bpy.props.BoolProperty(name="Smooth", default=True, description="Temporal filtering")
    hand_length: bpy.props.FloatProperty(name="Hand length (cm)", default=0.0, min=0.0,
                                         description="Wrist to middle fingertip; 0 = unknown")
    max_frames: bpy.props.IntProperty(name="Max frames", default=0, min=0, description="0 = all")
    frame_offset: bpy.props.IntProperty(name="Frame offset", default=1,
                                        description="Scene frame of the video's frame 0")
    wait: bpy.props.BoolProperty(name="Wait", default=False, options={"HIDDEN", "SKIP_SAVE"},
                                 description="Block until done (scripts; always so without a window)")

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "out_dir")
        layout.prop(self, "hands")
        layout.prop(self, "intrinsics")
        if self.intrinsics == "FOV":
            layout.prop(self, "fov")
        elif self.intrinsics == "PIXELS":
            for name in ("fx", "fy", "cx", "cy"):
                layout.prop(self, name)
        elif self.intrinsics == "CALIB":
            layout.prop(self, "calib_path")
        for name in ("estimator", "smooth", "hand_length", "max_frames", "frame_offset"):
            layout.prop(self, name)

    def track_options(self) -> TrackOptions:
        mode = self.intrinsics
        return TrackOptions(
            hands=self.hands, estimator=self.estimator, smooth=self.smooth,
            fov=self.fov if mode == "FOV" else None,
            fx=self.fx if mode == "PIXELS" else None, fy=self.fy or None, cx=self.cx, cy=self.cy,
            calib=bpy.path.abspath(self.calib_path) if mode == "CALIB" and self.calib_path else None,
            hand_length_cm=self.hand_length or None, max_frames=self.max_frames or None)

    def execute(self, context):
        video = Path(bpy.path.abspath(self.filepath))
        try:
            if not video.is_file():
                raise FileNotFoundError(f"{video}: video not found")
            if self.intrinsics == "CALIB" and not self.calib_path:
                raise ValueError("camera: no calibration file given")
            out_dir = Path(bpy.path.abspath(self.out_dir)) if self.out_dir else video.parent / "handmocap"
            exe = find_tracker(tracker_path(context))
            job = TrackJob(track_command(exe, video, out_dir, self.track_options()), self.max_frames or None)
        except (TrackerNotFound, *USER_ERRORS) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        ACTIVE.update(job=job, name=video.name)
        if self.wait or context.window is None:
            try:
                job.wait(on_update=lambda j: context.window_manager.progress_update(int(100 * j.fraction)))
            except TrackingError as exc:
                self.report({"ERROR"}, str(exc))
                return self._done(context, {"CANCELLED"})
            return self._finish(context, job)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.25, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        self._status(context, job)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = ACTIVE["job"]
        if event.type == "ESC":
            job.cancel()
            self.report({"WARNING"}, f"tracking {ACTIVE['name']} cancelled")
            return self._done(context, {"CANCELLED"})
        if event.type == "TIMER":
            if job.poll() != "running":
                return self._finish(context, job)
            context.window_manager.progress_update(int(100 * job.fraction))
            self._status(context, job)
        return {"PASS_THROUGH"}

    def cancel(self, context):  # Blender closes the operator (file closed, quit)
        if ACTIVE["job"] is not None:
            ACTIVE["job"].cancel()
        self._done(context, {"CANCELLED"})

    @staticmethod
    def _status(context, job) -> None:
        frames = f"{job.done}/{job.total} frames" if job.total else "starting"
        if context.workspace is not None:
            context.workspace.status_text_set(f"Tracking {ACTIVE['name']}: {frames} (Esc to cancel)")
        for area in context.screen.areas if context.screen else ():
            if area.type == "VIEW_3D":
                area.tag_redraw()

    def _done(self, context, result):
        ACTIVE.update(job=None, name="")
        wm = context.window_manager
        if getattr(self, "_timer", None) is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
            wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        return result

    def _finish(self, context, job):
        from .bl.build import import_motion

        if job.state != "finished":
            self.report({"ERROR"}, job.error or f"tracking {job.state}")
            return self._done(context, {"CANCELLED"})
        try:
            _, arms = import_motion(job.motion, context.scene, hand_model_path(context), self.frame_offset)
        except USER_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return self._done(context, {"CANCELLED"})
        self.report({"INFO"}, f"tracked {ACTIVE['name']}: {len(arms)} hand track(s) imported from {job.motion}")
        return self._done(context, {"FINISHED"})


def menu_track(self, context):
    self.layout.operator(HANDMOCAP_OT_track_video.bl_idname, text="Hand Motion from Video (handmocap)")


CLASSES = (HANDMOCAP_OT_track_video,)
