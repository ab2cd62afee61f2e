"""Blender side of the add-on: scene building (armature, mesh, camera, keyframes), axes,
retargeting onto rigs and FBX export. Uses bpy; the math lives in ../core."""
