"""The training panel driven without a browser: mode, exercise, reference answer, score, feedback,
highlight of the structure at fault, scores kept per trainee."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from injectmap.viewer.state import AppState
from injectmap.viewer.training_panel import TrainingPanel


@pytest.fixture
def panel(face_model, tmp_path: Path) -> TrainingPanel:
    state = AppState(snap=face_model.skin_point)
    return TrainingPanel(state, face_model, scores_file=tmp_path / "scores.json")


def test_visible_only_in_training_mode(panel: TrainingPanel):
    layout = panel.__panel__()
    assert not layout.visible
    panel.state.mode = "training"
    assert layout.visible
    panel.state.mode = "patient education"
    assert not layout.visible


def test_picker_lists_the_exercises_and_shows_the_goal(panel: TrainingPanel):
    assert len(panel.picker.options) >= 8
    panel.picker.value = "forehead_heavy_brow"
    assert panel.exercise_id == "forehead_heavy_brow"
    text = panel.goal.object
    assert "heavy brow" in text.lower() and "25 mm above the brow" in text and "Frontalis (left)" in text


def test_reference_answer_scores_and_shows_components(panel: TrainingPanel):
    panel.picker.value = "glabellar_complex"
    panel.reference.clicks += 1
    assert "procerus" in {p.get("target") for p in panel.state.points}
    panel.score_button.clicks += 1
    s = panel.score
    assert s is not None and s.total >= 80 and s.passed
    assert f"Score: {s.total}/100 (passed)" in panel.result.object
    for name in ("targets", "safety", "dose", "balance"):
        assert name in panel.result.object
    assert len(panel.feedback.value) == len(s.feedback)
    assert panel.state.can_undo  # loading the reference answer is undoable


def test_feedback_selection_highlights_the_structure_at_fault(panel: TrainingPanel):
    panel.picker.value = "crows_feet_smile"
    panel.reference.clicks += 1
    pid = panel.state.point_ids()[0]
    panel.state.update_point(pid, at={"landmark": "exocanthion_left"})
    panel.score_button.clicks += 1
    rows = panel.feedback.value
    i = next(k for k, r in rows.iterrows() if r["structure"] == "orbit_left" and r["point"] == pid)
    panel.feedback.selection = [int(i)]
    assert panel.state.highlight == "orbit_left"
    assert panel.state.selected == pid


def test_changing_the_exercise_clears_the_score(panel: TrainingPanel):
    panel.reference.clicks += 1
    panel.score_button.clicks += 1
    assert panel.score is not None
    panel.picker.value = "mentalis"
    assert panel.score is None and panel.feedback.value.empty


def test_empty_plan_scores_low_with_missed_targets(panel: TrainingPanel):
    panel.picker.value = "mentalis"
    panel.empty.clicks += 1
    assert panel.state.points == []
    panel.score_button.clicks += 1
    assert panel.score.total < 50
    assert {"mentalis_left", "mentalis_right"} <= set(panel.feedback.value["structure"])


def test_scores_are_kept_per_trainee(panel: TrainingPanel):
    panel.picker.value = "depressor_anguli_oris"
    panel.reference.clicks += 1
    panel.trainee.value = "Ana M."
    panel.score_button.clicks += 1
    panel.score_button.clicks += 1
    data = json.loads(panel.scores_file.read_text(encoding="utf-8"))
    assert [e["exercise_id"] for e in data["trainees"]["Ana M."]] == ["depressor_anguli_oris"] * 2
    assert "2 attempt(s)" in panel.history.object and "Kept for Ana M." in panel.result.object


def test_a_bad_name_or_a_bad_file_keeps_the_score_on_screen(panel: TrainingPanel):
    panel.reference.clicks += 1
    panel.trainee.value = "<b>x</b>"
    panel.score_button.clicks += 1
    assert "Score not kept" in panel.result.object and "/100" in panel.result.object
    panel.scores_file.write_text("{broken", encoding="utf-8")
    panel.trainee.value = "Ana"
    panel.score_button.clicks += 1
    assert "Score not kept" in panel.result.object and "not valid JSON" in panel.result.object
    assert panel.scores_file.read_text(encoding="utf-8") == "{broken"


def test_an_exercise_starts_from_its_own_plan_and_the_planning_plan_comes_back(panel: TrainingPanel):
    st = panel.state
    st.load_plan({"format": "injectmap-plan", "version": 1, "points": [
        {"id": "g1", "units": 4, "target": "procerus", "at": {"landmark": "glabella"}, "depth_mm": 3}]},
        undoable=False)
    st.update_point("g1", units=5)  # an edit to undo later
    before = st.plan_dict()
    st.mode = "training"
    assert st.points == [] and not st.can_undo  # the exercise's own plan; no undo into the planning plan
    panel.reference.clicks += 1
    assert "g1" in st.point_ids() and st.point("g1")["units"] == 4  # the exercise's reference, not planning's
    panel.picker.value = "masseter_small_jaw"
    assert st.points == [] and st.extra.get("model") == {"shape": {"masseter": -1.0}}  # its face, no points
    panel.picker.value = "glabellar_complex"
    assert "c1_left" in st.point_ids()  # the attempt of this exercise resumes
    st.mode = "depth planning"
    assert st.plan_dict() == before and st.can_undo
    assert st.undo() and st.point("g1")["units"] == 4  # the planning history is back too
    st.redo()
    st.mode = "training"
    assert "c1_left" in st.point_ids()


def test_the_pass_mark_is_shown_and_the_verdict_says_why(panel: TrainingPanel):
    assert "Pass mark: 80 of 100" in panel.pass_mark.object and "placement rule" in panel.pass_mark.object
    panel.picker.value = "depressor_anguli_oris"
    panel.reference.clicks += 1
    pid = "d1_left"
    panel.state.update_point(pid, at={"landmark": "cheilion_left", "lateral_mm": -8, "superior_mm": -20})
    panel.score_button.clicks += 1
    assert "(not passed)" in panel.result.object and "placement rule broken" in panel.result.object
    rows = panel.feedback.value
    msg = next(r["message"] for _, r in rows.iterrows() if r["point"] == pid and "medial" in r["message"])
    assert "mm lateral" in msg


class _HeldDoc:
    """A served page's document as the card sees it: results wait for the event loop."""

    session_context = object()

    def __init__(self) -> None:
        import queue

        self.pending: queue.Queue = queue.Queue()

    def add_next_tick_callback(self, cb) -> None:
        self.pending.put(cb)


def test_a_served_page_scores_off_the_event_loop(face_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Scoring analyses the plan and, for an exercise on a face of its own, may build that face first: on a
    served page the click returns at once, the card says it is scoring, and the score lands on the event loop.
    A score that arrives after another exercise was chosen is not shown as that exercise's."""
    import threading

    from injectmap.viewer import training_panel

    release = threading.Event()
    real = training_panel.score_attempt

    def slow(*a, **k):
        assert release.wait(60)
        return real(*a, **k)

    monkeypatch.setattr(training_panel, "score_attempt", slow)
    doc = _HeldDoc()
    panel = TrainingPanel(AppState(snap=face_model.skin_point), face_model, scores_file=tmp_path / "s.json", doc=doc)
    panel.picker.value = "glabellar_complex"
    panel.reference.clicks += 1
    panel.trainee.value = "Ana M."
    panel.score_button.clicks += 1  # returns while the scoring waits in its thread
    assert panel.score is None and panel.score_button.disabled and "Scoring your plan" in panel.result.object
    panel.trainee.value = "Ben K."  # typed while it scores: the score is the name's that asked for it
    release.set()
    doc.pending.get(timeout=120)()
    assert panel.score is not None and panel.score.passed and not panel.score_button.disabled
    assert f"Score: {panel.score.total}/100 (passed)" in panel.result.object and "Kept for Ana M." in panel.result.object
    # the plan changed while it was scored: that score is not shown as the plan's on screen
    panel.score = None
    release.clear()
    panel.score_button.clicks += 1
    pid = panel.state.point_ids()[0]
    panel.state.update_point(pid, units=1.0)
    release.set()
    doc.pending.get(timeout=120)()
    assert panel.score is None and "The plan changed while it was being scored" in panel.result.object
    assert len(panel.feedback.value) == 0
    # the plan's face changed (the Face card switching faces): the same
    release.clear()
    panel.score_button.clicks += 1
    panel.state.set_plan_model({"brow_left": 0.5})
    release.set()
    doc.pending.get(timeout=120)()
    assert panel.score is None and "The plan changed while it was being scored" in panel.result.object
    # scored, then another exercise chosen before the score arrives: its card is not given the old score
    panel.score = None
    release.clear()
    panel.score_button.clicks += 1
    panel.picker.value = "mentalis"
    release.set()
    doc.pending.get(timeout=120)()
    assert panel.score is None and "Score:" not in panel.result.object and not panel.score_button.disabled


def test_each_feedback_message_is_shown_whole_under_its_row_as_plain_text(panel: TrainingPanel):
    """The message is not a squeezed fourth column: each row opens on its message, which quotes the plan's point ids
    and so is shown as text, never markup."""
    from injectmap.viewer.training_panel import _message_pane

    panel.picker.value = "mentalis"
    panel.reference.clicks += 1
    panel.score_button.clicks += 1
    n = len(panel.feedback.value)
    assert n and panel.feedback.expanded == list(range(n))
    assert "message" in panel.feedback.hidden_columns
    shown = _message_pane(panel.feedback.value.iloc[0]).object
    assert "mn1" in shown
    assert "<img" not in _message_pane({"message": "Point <img src=x onerror=alert(1)>: too high"}).object


def test_the_goal_gives_the_exercise_s_dose_and_planning_s_range_with_why_they_differ(panel: TrainingPanel):
    """The small-jaw exercise allows 20-30 U per side; planning's masseter range (20-40 U per side, usually 24-32 U,
    from dose_ranges.yaml) is said beside it with the reason the exercise takes its lower part, once for both sides."""
    from injectmap.planning.doses import dose_range, range_words

    panel.picker.value = "masseter_small_jaw"
    goal = panel.goal.object
    r = dose_range("masseter")
    assert r is not None
    planning = (f"planning's masseter range: {range_words(r.low_units, r.high_units)} per side, usually "
                f"{range_words(r.typical_low_units, r.typical_high_units)}")
    assert goal.count(planning) == 1 and "masseter left and masseter right 20-30 U (a small jaw" in goal, goal
