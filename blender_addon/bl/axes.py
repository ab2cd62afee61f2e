"""The one place where OpenCV camera space becomes Blender world space.

Blender world = camera frame turned Z-up: x right -> +X, z forward -> +Y, y down -> -Z,
metres; the camera sits at the origin looking down +Y. Armatures and meshes are built in
the camera frame (armature space = OpenCV camera space) and carry this as their object
matrix, so keyframes stay the motion's own numbers.
"""
from __future__ import annotations

from mathutils import Matrix


def camera_to_world() -> Matrix:
    """4x4 matrix taking OpenCV camera coordinates (metres) to Blender world coordinates."""
    return Matrix(((1.0, 0.0, 0.0, 0.0),
                   (0.0, 0.0, 1.0, 0.0),
                   (0.0, -1.0, 0.0, 0.0),
                   (0.0, 0.0, 0.0, 1.0)))


def camera_object_matrix() -> Matrix:
    """World matrix of a Blender camera that sees what the OpenCV camera sees (Blender
    cameras look down their -Z with +Y up: OpenCV axes times diag(1, -1, -1))."""
    return camera_to_world() @ Matrix.Diagonal((1.0, -1.0, -1.0, 1.0))
