"""Video input: probing, streamed decoding, and finding the inputs in files and folders.

    info = probe("clip.mp4")            # VideoInfo: size (upright), fps, frames, rotation, VFR
    for frame in open_frames("clip.mp4", stride=2):
        frame.index, frame.timestamp_s, frame.image   # (H, W, 3) uint8 RGB, upright
    inputs = list_inputs(["videos/", "shot.mov"])    # list[Path], one entry per input

Every bad input raises `InputError` ("<path>: <reason>", one line).
"""
from .decode import DECODERS, Frame, open_frames, probe_once
from .probe import IMAGE_EXTENSIONS, IMAGE_FPS, VIDEO_EXTENSIONS, VideoInfo, probe, read_image
from .image_folders import IMAGE_FOLDER_MODES, is_image_sequence
from .readahead import ReadAhead, prefetch
from .sources import FoundInput, find_inputs, list_inputs

__all__ = ["VideoInfo", "probe", "Frame", "open_frames", "list_inputs", "find_inputs", "FoundInput", "read_image", "DECODERS",
           "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "IMAGE_FPS", "IMAGE_FOLDER_MODES", "is_image_sequence",
           "prefetch", "ReadAhead", "probe_once"]
