"""Learned models: the keypoint model (default estimator of `handmocap track`), the image
model (ResNet-50 + HandDGP heads), checkpoints and the track estimator.

    from handmocap.nn.estimator import estimate_track      # same API/result as fit_track
    from handmocap.nn.checkpoint import load_keypoint_model  # shipped weights, no download

Letters: B batch, T frames, J=21 keypoints, V vertices, S crop size.
"""
