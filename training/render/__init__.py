"""Rendered hand videos with exact ground truth (Blender Cycles on CPU, the open hand model).

`animate` builds hand-parameter trajectories (numpy/torch, no bpy); `scene` builds and renders
the Blender scene (imports bpy). `tools/render_hand_video.py` chains them into a video.

Ground-truth file `<name>.gt.npz` (T frames, H hands, J = 21 keypoints, MediaPipe order):
    K               (3, 3) float64 intrinsics, pixels, pixel-centre convention (no distortion)
    image_size      (2,) int [W, H] pixels
    fps             () float, frames per second
    timestamps_s    (T,) float64 seconds, frame i at i / fps
    num_hands       () int, H
    model_id        () str, `HandModel.model_id` of the right-hand model used
    and for each hand h in 0 .. H-1:
    hand{h}_side            () str, 'right' or 'left' (left = `HandModel(side='left')`)
    hand{h}_global_orient   (T, 3) axis-angle, camera frame (OpenCV: x right, y down, z fwd)
    hand{h}_hand_pose       (T, 45) radians, MANO joint order, flat_hand_mean=True
    hand{h}_betas           (10,) shape coefficients
    hand{h}_transl          (T, 3) metres: output = HandModel(...) output + transl
    hand{h}_keypoints_cam   (T, J, 3) metres, camera frame, = HandModel(...).keypoints
    hand{h}_keypoints_px    (T, J, 2) pixels, keypoints_cam projected with K
    hand{h}_visible         (T,) bool, every keypoint in front of the camera and inside the
                            image (pixel centres within [-0.5, W - 0.5] x [-0.5, H - 0.5])
Vertices are not stored: `HandModel(side=...)(global_orient, hand_pose, betas, transl)` with
float64 parameters recomputes them (and the keypoints) exactly. The video is rendered from
those vertices (with one level of subdivision for looks, which moves the surface < 1 mm).
"""
