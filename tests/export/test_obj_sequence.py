"""OBJ sequence details: chunked mesh evaluation across gaps, y-up option, face winding.
(File naming and the match with the hand model are in test_obj_preview.py.)"""
import numpy as np
import torch
import trimesh

from handmocap.export.obj_sequence import export_obj_sequence, iter_camera_space_vertices
from handmocap.hand import HandModel



def test_chunked_vertices_follow_gaps_across_chunk_borders(motion):
    # the gap 7-10 straddles the chunk border at 8
    t = motion.tracks[1] = motion.tracks[1].subset(np.r_[2:7, 11:len(motion.tracks[1])])
    frames = list(iter_camera_space_vertices(motion, chunk=4))
    assert len(frames) == motion.num_frames
    for f, hands in enumerate(frames):
        assert set(hands) == {tr.track_id for tr in motion.tracks if f in tr.frame_index}, f
    for tr in motion.tracks:
        hand = HandModel(side=tr.side, dtype=torch.float64)
        want = hand(global_orient=tr.global_orient, hand_pose=tr.hand_pose,
                    betas=np.repeat(tr.betas[None], len(tr), 0), transl=tr.transl).vertices.numpy()
        got = np.stack([frames[f][tr.track_id] for f in tr.frame_index])
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_y_up_option_turns_the_camera_frame_and_keeps_winding(tmp_path, motion):
    cv = export_obj_sequence(motion, tmp_path / "cv", "clip")
    up = export_obj_sequence(motion, tmp_path / "up", "clip", y_up=True)
    assert [p.name for p in up] == [p.name for p in cv]
    a = trimesh.load(cv[7], process=False, force="mesh")
    b = trimesh.load(up[7], process=False, force="mesh")
    np.testing.assert_allclose(b.vertices, a.vertices * [1.0, -1.0, -1.0], atol=1e-6)
    np.testing.assert_array_equal(a.faces, b.faces)
    faces = HandModel(side=motion.tracks[0].side).faces.numpy()
    np.testing.assert_array_equal(a.faces[:len(faces)], faces)  # first object: track 0, same triangles
    # a proper rotation keeps outward normals outward: the closed-ish hand's normals agree
    # with the direction away from its centroid for most faces in both files
    for mesh in (a, b):
        part = trimesh.Trimesh(mesh.vertices[:mesh.faces[:len(faces)].max() + 1], faces, process=False)
        out = ((part.triangles_center - part.centroid) * part.face_normals).sum(1) > 0
        assert out.mean() > 0.6  # 0.75 here; a mirrored export gives 0.25
