"""Joint and keypoint tables: the one place that knows both orders.

MANO's 16 joints: 0 wrist; 1-3 index; 4-6 middle; 7-9 pinky; 10-12 ring; 13-15 thumb.
The 21 keypoints handmocap uses everywhere (MediaPipe / OpenPose / FreiHAND order):
0 wrist; 1-4 thumb CMC, MCP, IP, tip; 5-8 index MCP, PIP, DIP, tip; 9-12 middle;
13-16 ring; 17-20 pinky.
"""
from __future__ import annotations

MANO_JOINT_NAMES = (
    "wrist",
    "index1", "index2", "index3",
    "middle1", "middle2", "middle3",
    "pinky1", "pinky2", "pinky3",
    "ring1", "ring2", "ring3",
    "thumb1", "thumb2", "thumb3",
)
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

FINGER_NAMES = ("thumb", "index", "middle", "ring", "pinky")
"""Fingertip order used by the assets' `fingertip_vertex_ids`."""

KEYPOINT_NAMES = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)
KEYPOINT_PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
"""Parent of each keypoint in the 21-keypoint skeleton (for drawing and bone lengths)."""

MANO_TO_KEYPOINTS = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
"""Index into `cat([joints16 (MANO order), tips5 (FINGER_NAMES order)])` for each of the
21 keypoints: `keypoints21 = joints_and_tips[:, MANO_TO_KEYPOINTS]`."""

FINGERTIP_KEYPOINTS = (4, 8, 12, 16, 20)
MCP_KEYPOINTS = (5, 9, 13, 17)
WRIST = 0
MIDDLE_MCP = 9
NUM_KEYPOINTS = 21
NUM_JOINTS = 16
