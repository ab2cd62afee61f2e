"""Solvers: global positioning (DGP) and per-frame fitting of hand parameters.

    dgp   `solve_translation`: camera-space translation from 2D keypoints, root-relative 3D
          keypoints and weights (HandDGP eq. 7, batched, differentiable, per-item validity);
          `refine_translation`: Levenberg-Marquardt on the pixel reprojection error.
"""
from .dgp import DGPError, DGPResult, STATUS_MESSAGES, refine_translation, solve_translation

__all__ = ["DGPError", "DGPResult", "STATUS_MESSAGES", "refine_translation", "solve_translation"]
