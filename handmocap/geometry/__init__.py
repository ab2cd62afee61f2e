"""Pure tensor geometry: rotations, linear blend skinning, alignment and metrics."""
