"""bpy-free core of the add-on: motion reading, hand-model rest shape, bone frames and
retargeting math. numpy + json only, so it is tested outside Blender and never imports
torch, mediapipe or the handmocap package."""
