"""Training mode: pick an exercise, plan it in the scene, score the plan, read the feedback.

:class:`TrainingPanel` shows itself only while the session's mode is ``"training"``. It gathers
input and calls :mod:`teaching.training` (the scoring asks planning's ``check_plan``; nothing is
measured here). Selecting a feedback item selects its point and highlights the structure at fault
through the state's ``highlight`` (the same mechanism as the findings table).

Scores are recorded per trainee in ``$INJECTMAP_TRAINING_SCORES`` (default
``~/.cache/injectmap/training_scores.json``) when a trainee name is given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import panel as pn
import param

from injectmap.teaching.training import (
    Exercise,
    Score,
    ScoreFileError,
    history,
    load_exercises,
    record_score,
    score_attempt,
    validate_trainee,
)
from injectmap.viewer.state import DEFAULT_PRODUCT, AppState
from injectmap.viewer.text import plain

SCORES_ENV = "INJECTMAP_TRAINING_SCORES"
FEEDBACK_COLUMNS = ["severity", "point", "structure", "message"]


def scores_path() -> Path:
    """Where trainees' scores are kept (``$INJECTMAP_TRAINING_SCORES`` or the user's cache)."""
    p = os.environ.get(SCORES_ENV)
    return Path(p) if p else Path.home() / ".cache" / "injectmap" / "training_scores.json"


class TrainingPanel(pn.viewable.Viewer):
    """Exercise picker, goal, trainee name, score and feedback; visible in training mode only."""

    exercise_id = param.String(default="", doc="Id of the chosen exercise.")
    score = param.Parameter(default=None, doc="The last Score (teaching.training.Score) or None.")

    def __init__(self, state: AppState, model: Any, scores_file: str | os.PathLike[str] | None = None,
                 **params: Any) -> None:
        self.exercises: dict[str, Exercise] = load_exercises()
        params.setdefault("exercise_id", next(iter(self.exercises)))
        super().__init__(**params)
        self.state, self.model = state, model
        self.scores_file = Path(scores_file) if scores_file is not None else scores_path()
        self._rows: list[dict[str, str]] = []
        self.picker = pn.widgets.Select(label="Exercise", options={e.title: i for i, e in self.exercises.items()},
                                        value=self.exercise_id, width=420, css_classes=["training-picker"])
        self.picker.link(self, value="exercise_id")
        self.goal = pn.pane.Markdown("", width=860, css_classes=["training-goal"])
        self.trainee = pn.widgets.TextInput(label="Trainee name (scores are kept under it)", width=260,
                                            placeholder="e.g. Ana M.")
        self.empty = pn.widgets.Button(label="Start from an empty plan", width=200)
        self.reference = pn.widgets.Button(label="Load reference answer", width=190)
        self.score_button = pn.widgets.Button(label="Score my plan", color="primary", width=150)
        self.empty.on_click(self._on_empty)
        self.reference.on_click(self._on_reference)
        self.score_button.on_click(self._on_score_click)
        self.result = pn.pane.Markdown("*Plan the exercise in the scene, then press Score my plan.*", width=860,
                                       css_classes=["training-score"])
        self.feedback = pn.widgets.Tabulator(self._frame(), show_index=False, selectable=1, disabled=True,
                                             height=220, width=860, layout="fit_columns",
                                             widths={"severity": 80, "point": 80, "structure": 200},
                                             css_classes=["training-feedback"])
        self.feedback.param.watch(self._on_feedback_select, "selection")
        self.history = pn.pane.Markdown("", width=860, css_classes=["training-history"])
        self._layout = pn.Card(
            self.goal,
            pn.Row(self.picker, self.trainee),
            pn.Row(self.empty, self.reference, self.score_button),
            self.result, self.feedback, self.history,
            title="Training", width=880, css_classes=["training-panel"], visible=state.mode == "training")
        state.param.watch(self._on_mode, ["mode"])
        self._show_goal()

    # ------------------------------------------------------------------ views
    @property
    def exercise(self) -> Exercise:
        return self.exercises[self.exercise_id]

    def _frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self._rows, columns=FEEDBACK_COLUMNS)

    @param.depends("exercise_id", watch=True)
    def _show_goal(self) -> None:
        ex = self.exercise
        names = ", ".join(self._name(t) for t in ex.targets)
        spare = ", ".join(self._name(s) for s in ex.spare)
        doses = "; ".join(f"{g.id.replace('_', ' ')} {g.min_units:g}-{g.max_units:g} U" for g in ex.dose_groups)
        lines = [f"### {ex.title}", f"**Goal:** {ex.goal}", f"**Scenario:** {ex.scenario}",
                 f"**Reach:** {names}", f"**Spare:** {spare}",
                 f"**Dose (onabotulinumtoxinA units):** {doses}; total {ex.total.min_units:g}-"
                 f"{ex.total.max_units:g} U"]
        for c in ex.constraints:
            lines.append(f"**Constraint:** points stay at least {c.min_mm:g} mm above the brow ({c.why}).")
        if ex.balance.expect == "asymmetric":
            lines.append(f"**Asymmetry expected:** the {ex.balance.higher_side} "
                         f"{ex.balance.group.replace('_', ' ')} needs at least {ex.balance.min_ratio:g} times the "
                         f"other side's dose.")
        self.goal.object = "\n\n".join(lines)
        self.score = None
        self._rows = []
        self.feedback.value = self._frame()
        self.result.object = "*Plan the exercise in the scene, then press Score my plan.*"

    def _name(self, sid: str) -> str:
        s = self.model.structures.get(sid)
        return s.name + ("" if s.side in ("midline", "") else f" ({s.side})") if s is not None else sid

    def _on_mode(self, *_: Any) -> None:
        self._layout.visible = self.state.mode == "training"

    # ------------------------------------------------------------------ actions
    def _on_empty(self, _e: Any = None) -> None:
        self.state.load_plan({"format": "injectmap-plan", "version": 1, "product": dict(DEFAULT_PRODUCT),
                              "points": []})
        self.state.message = f"Empty plan for '{self.exercise.title}'."

    def _on_reference(self, _e: Any = None) -> None:
        self.state.load_plan(self.exercise.reference_plan())
        self.state.message = f"Loaded the reference answer of '{self.exercise.title}' (undo to go back)."

    def _on_score_click(self, e: Any = None) -> None:
        """The Score button (a click handler returns nothing)."""
        self._on_score(e)

    def _on_score(self, _e: Any = None) -> Score:
        s = score_attempt(self.exercise, self.state.plan_dict(), self.model)
        self.score = s
        verdict = "passed" if s.passed else "not passed"
        parts = " · ".join(f"{c.name} {c.points:.0f}/{c.max_points:.0f}" for c in s.components.values())
        lines = [f"## Score: {s.total}/100 ({verdict})", parts]
        lines += [f"- *{c.name}*: {c.detail}" for c in s.components.values()]
        if not s.feedback:
            lines.append("No mistakes found: every target reached, nothing to spare reached, doses in range.")
        lines.append(self._record(s))
        self.result.object = "\n\n".join(x for x in lines if x)
        self._rows = [{"severity": f.severity, "point": f.point, "structure": f.structure, "message": f.message}
                      for f in s.feedback]
        self.feedback.selection = []
        self.feedback.value = self._frame()
        return s

    def _record(self, s: Score) -> str:
        raw = self.trainee.value or ""
        if not raw.strip():
            self.history.object = ""
            return "*Give a trainee name to keep this score.*"
        try:
            name = validate_trainee(raw)
        except ValueError as exc:
            return f"**Score not kept:** {plain(exc)}."
        try:
            record_score(self.scores_file, name, s.exercise_id, s)
            h = [e for e in history(self.scores_file, name) if e["exercise_id"] == s.exercise_id]
        except ScoreFileError as exc:
            return f"**Score not kept:** {plain(exc)}"
        best = max(e["total"] for e in h)
        self.history.object = (f"**{plain(name)}**, {self.exercise.title}: {len(h)} attempt(s), best {best}/100, "
                               f"last scores {', '.join(str(e['total']) for e in h[-5:])}.")
        return f"*Kept for {plain(name)}.*"

    def _on_feedback_select(self, event: param.parameterized.Event) -> None:
        if not event.new or event.new[0] >= len(self._rows):
            return
        row = self._rows[event.new[0]]
        if row["point"] and row["point"] in self.state.point_ids():
            self.state.selected = row["point"]
        self.state.highlight = ""
        self.state.highlight = row["structure"]

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout
