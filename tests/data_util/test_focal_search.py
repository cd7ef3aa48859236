"""The focal search scales with the frame and widens until the best focal lies inside the searched range."""
import numpy as np

from data_util.face_tracking.focal_search import describe, scaled_grid, widening_search
from data_util.face_tracking.rigid_tracker import track_rigid
from data_util.face_tracking.synthetic import pose_sequence, project_points
from data_util.face_tracking.template import generic_face_68


def test_the_grid_is_the_originals_at_450_px_and_scales_with_the_frame():
    assert scaled_grid((450, 450)) == [600.0, 700.0, 800.0, 900.0, 1000.0, 1100.0, 1200.0, 1300.0, 1400.0]
    assert scaled_grid((900, 506)) == [f * 2 for f in scaled_grid((450, 450))]


def test_the_search_widens_past_the_end_holding_the_best():
    calls = []

    def evaluate(grid):
        calls.append(list(grid))
        return {f: (f - 2650.0) ** 2 for f in grid}
    best, errors, record = widening_search(evaluate, (450, 450))
    assert best == 2600.0 and record["inside"] and record["widened"] == 3
    assert record["searched_px"] == [600.0, 4200.0] and calls[1] == [1500.0, 1600.0, 1700.0, 1800.0]
    best, _, record = widening_search(lambda g: {f: f for f in g}, (450, 450))     # smaller is always better
    assert best == 100.0 and not record["inside"]                                 # stops above zero
    assert "still at the end of the range" in describe(record)


def test_rigid_tracking_of_a_telephoto_clip_finds_its_focal(capsys):
    size = (256, 256)
    euler, trans = pose_sequence(30, seed=3)
    trans = trans * np.array([1, 1, 2.5])               # far away, long lens: focal ~ 2.5x a 450 px grid's
    lms = project_points(generic_face_68(), euler, trans, 2000.0, size)
    result = track_rigid(lms, size, focal_every=10)
    search = result["focal_search"]
    assert search["inside"] and search["widened"] >= 1 and search["searched_px"][0] < 2000 < search["searched_px"][1]
    assert abs(result["focal"] - 2000.0) <= search["step_px"]
    assert describe(search).startswith(f"focal {result['focal']:.0f} px, searched ")
