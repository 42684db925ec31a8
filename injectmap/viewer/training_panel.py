"""Training mode: pick an exercise, plan it in the scene, score the plan, read the feedback.

:class:`TrainingPanel` shows itself only while the session's mode is ``"training"``. It gathers
input and calls :mod:`teaching.training` (the scoring asks planning's ``check_plan``; nothing is
measured here). Selecting a feedback item selects its point and highlights the structure at fault
through the state's ``highlight`` (the same mechanism as the findings table).

An exercise starts from its own plan (``Exercise.start_plan``: empty, on the exercise's face and
product), never from the plan the session had: entering training keeps the planning plan (and its
undo history) aside and leaving training puts it back. The trainee's plan of each exercise is kept
while the session lasts, so switching exercises and back resumes the attempt.

Scores are recorded per trainee in ``$INJECTMAP_TRAINING_SCORES`` (default
``~/.cache/injectmap/training_scores.json``) when a trainee name is given.
"""

from __future__ import annotations

import copy
import functools
import logging
import os
from pathlib import Path
from typing import Any

import panel as pn
import param

from injectmap.teaching.training import (
    SCORES_ENV,
    Exercise,
    Score,
    ScoreFileError,
    history,
    load_exercises,
    pass_mark_lines,
    record_score,
    score_attempt,
    scores_path,
    validate_trainee,
)
from injectmap.viewer.analysis import analysis_executor
from injectmap.viewer.state import AppState
from injectmap.viewer.text import plain

log = logging.getLogger(__name__)

__all__ = ["FEEDBACK_COLUMNS", "SCORES_ENV", "TrainingPanel", "scores_path"]

FEEDBACK_COLUMNS = ["severity", "point", "structure", "message"]
PASS_MARK_CLASS = "training-passmark"


def _message_pane(row: Any) -> pn.pane.Markdown:
    """A feedback row's message, whole, under the row (plain: it quotes the plan's point ids)."""
    return pn.pane.Markdown(plain(row["message"]), sizing_mode="stretch_width", margin=(0, 10),
                            css_classes=["training-message"])


class TrainingPanel(pn.viewable.Viewer):
    """Exercise picker, goal, trainee name, score and feedback; visible in training mode only."""

    exercise_id = param.String(default="", doc="Id of the chosen exercise.")
    score = param.Parameter(default=None, doc="The last Score (teaching.training.Score) or None.")

    def __init__(self, state: AppState, model: Any, scores_file: str | os.PathLike[str] | None = None,
                 doc: Any = None, **params: Any) -> None:
        self.exercises: dict[str, Exercise] = load_exercises()
        params.setdefault("exercise_id", next(iter(self.exercises)))
        super().__init__(**params)
        self.state, self.model = state, model
        doc = doc if doc is not None else pn.state.curdoc
        #: a served page's document: scoring (an analysis, perhaps a face build) then runs off the event loop
        self._doc = doc if doc is not None and getattr(doc, "session_context", None) is not None else None
        self._generation = 0
        self._plan_version = 0  # counts the plan's changes: a score of an earlier plan is not shown as this one's
        state.param.watch(self._plan_changed, ["points", "product", "extra"])  # extra: the plan's face (model)
        self.scores_file = Path(scores_file) if scores_file is not None else scores_path()
        self._rows: list[dict[str, str]] = []
        #: the planning plan, its selection and undo history, kept aside while training
        self._planning: tuple[dict[str, Any], str, list[Any], list[Any], int] | None = None
        #: the trainee's plan of each exercise opened in this session
        self._attempts: dict[str, dict[str, Any]] = {}
        self.picker = pn.widgets.Select(label="Exercise", options={e.title: i for i, e in self.exercises.items()},
                                        value=self.exercise_id, width=420, css_classes=["training-picker"])
        self.picker.link(self, value="exercise_id")
        self.goal = pn.pane.Markdown("", width=860, css_classes=["training-goal"])
        self.trainee = pn.widgets.TextInput(label="Trainee name (scores are kept under it)", width=260,
                                            placeholder="e.g. Ana M.")
        self.empty = pn.widgets.Button(label="Start the exercise again", width=200)
        self.reference = pn.widgets.Button(label="Load reference answer", width=190)
        self.score_button = pn.widgets.Button(label="Score my plan", color="primary", width=150)
        self.empty.on_click(self._on_empty)
        self.reference.on_click(self._on_reference)
        self.score_button.on_click(self._on_score_click)
        self.result = pn.pane.Markdown("*Plan the exercise in the scene, then press Score my plan.*", width=860,
                                       css_classes=["training-score"])
        # each row's message is shown whole under it, across the table's width (a fourth column in the 430 px plan
        # column was cut to "m..."); the rows grow with their text and the column scrolls
        self.feedback = pn.widgets.Tabulator(self._frame(), show_index=False, selectable=1, disabled=True,
                                             width=860, layout="fit_columns", hidden_columns=["message"],
                                             widths={"severity": 80, "point": 80},
                                             row_content=_message_pane, embed_content=False,
                                             css_classes=["training-feedback"])
        self.feedback.param.watch(self._on_feedback_select, "selection")
        self.history = pn.pane.Markdown("", width=860, css_classes=["training-history"])
        self.pass_mark = pn.pane.Markdown("**How the score counts**\n\n" + "\n".join(
            f"- {plain(x)}" for x in pass_mark_lines()), width=860, css_classes=[PASS_MARK_CLASS])
        self._layout = pn.Card(
            self.goal, self.pass_mark,
            pn.Row(self.picker, self.trainee),
            # the buttons wrap onto a second line in the narrow plan column: each stays where the mouse reaches it
            pn.FlexBox(self.empty, self.reference, self.score_button, flex_wrap="wrap", sizing_mode="stretch_width",
                       css_classes=["training-buttons"]),
            self.result, self.feedback, self.history,
            title="Training", width=880, css_classes=["training-panel"], visible=state.mode == "training")
        state.param.watch(self._on_mode, ["mode"])
        self._shown = self.exercise_id
        self._show_goal()
        if state.mode == "training":
            self._enter()

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
        # each allowed range once, with the groups it holds for (a symmetric exercise's two sides share one), and
        # planning's range beside it where the exercise takes it, with why it differs (DoseLimit.allowed_words)
        by_words: dict[str, list[str]] = {}
        for g in ex.dose_groups:
            by_words.setdefault(g.allowed_words(), []).append(g.id.replace("_", " "))
        doses = "; ".join(f"{' and '.join(ids)} {words}" for words, ids in by_words.items())
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
        if ex.expected is not None:  # scored from the expression model (teaching.training_expected)
            lines.append(f"**Expected at day {ex.expected.day:g}:** " + "; ".join(c.text for c in ex.expected.checks) + ".")
        self.goal.object = "\n\n".join(lines)
        if self.state.mode == "training" and self._shown != self.exercise_id:  # another exercise: its own plan
            self._attempts[self._shown] = self.state.plan_dict()
            self._load_exercise_plan()
        self._shown = self.exercise_id
        self.score = None
        self._show_rows([])
        self.result.object = "*Plan the exercise in the scene, then press Score my plan.*"

    def _name(self, sid: str) -> str:
        s = self.model.structures.get(sid)
        return s.name + ("" if s.side in ("midline", "") else f" ({s.side})") if s is not None else sid

    def _on_mode(self, event: Any = None) -> None:
        self._layout.visible = self.state.mode == "training"
        old = getattr(event, "old", None)
        if self.state.mode == "training" and old != "training":
            self._enter()
        elif self.state.mode != "training" and old == "training":
            self._leave()

    # ------------------------------------------------------------------ the planning plan and the exercise's
    def _enter(self) -> None:
        """Keep the planning plan aside and open the exercise's own plan."""
        st = self.state
        self._planning = (st.plan_dict(), st.selected, copy.deepcopy(st._undo), copy.deepcopy(st._redo), st.origin)
        self._load_exercise_plan()

    def _leave(self) -> None:
        """Keep the trainee's plan of this exercise and put the planning plan back, with its undo history."""
        self._attempts[self.exercise_id] = self.state.plan_dict()
        if self._planning is None:
            return
        plan, selected, undo, redo, origin = self._planning
        self._planning = None
        st = self.state
        st.load_plan(plan, undoable=False)
        st._undo[:], st._redo[:] = undo, redo  # the planning history, as it was before training
        with param.edit_constant(st):
            st.can_undo, st.can_redo = bool(undo), bool(redo)
            st.origin = origin  # the same plan as before training (a touch-up proposal's Save still applies)
        if selected in st.point_ids():
            st.selected = selected
        st.message = "Back to planning: the plan you had before training is restored."

    def _load_exercise_plan(self) -> None:
        """The trainee's earlier plan of this exercise in this session, else the exercise's start plan; not
        undoable into the planning plan."""
        plan = self._attempts.get(self.exercise_id) or self.exercise.start_plan()
        self.state.load_plan(plan, undoable=False, source=f"the exercise '{self.exercise.title}'")
        self.state.message = f"Training: '{self.exercise.title}' (the planning plan is kept for later)."

    # ------------------------------------------------------------------ actions
    def _on_empty(self, _e: Any = None) -> None:
        self.state.load_plan(self.exercise.start_plan(), source=f"the exercise '{self.exercise.title}'")
        self.state.message = f"Started '{self.exercise.title}' again from its own plan (undo to go back)."

    def _on_reference(self, _e: Any = None) -> None:
        self.state.load_plan(self.exercise.reference_plan(),
                             source=f"the reference answer of the exercise '{self.exercise.title}'")
        self.state.message = f"Loaded the reference answer of '{self.exercise.title}' (undo to go back)."

    def _on_score_click(self, e: Any = None) -> None:
        """The Score button: scores off the event loop on a served page (the plan's analysis, and its face
        built first when the exercise names one, can take seconds), the card saying so meanwhile."""
        if self._doc is None:
            self._on_score(e)
            return
        self._generation += 1
        gen, exercise, plan = self._generation, self.exercise, self.state.plan_dict()
        asked = (exercise.id, self._plan_version, self.trainee.value or "")  # the plan and the name as clicked
        self.score_button.disabled = True
        self.result.object = plain(f"Scoring your plan of '{exercise.title}'...")
        analysis_executor().submit(self._background, gen, asked, exercise, plan)

    def _background(self, gen: int, asked: tuple[str, int, str], exercise: Exercise, plan: dict[str, Any]) -> None:
        try:
            score: Score | None = score_attempt(exercise, plan, self.model)
            error = ""
        except Exception as exc:  # said in the card (its kind only: the text may quote the plan); the session goes on
            log.warning("an attempt could not be scored: %s", type(exc).__name__)
            score, error = None, type(exc).__name__
        if self._doc is not None:
            try:
                self._doc.add_next_tick_callback(functools.partial(self._scored, gen, asked, score, error))
            except Exception:  # the session has ended meanwhile
                log.debug("score not delivered: the session has ended")

    def _scored(self, gen: int, asked: tuple[str, int, str], score: Score | None, error: str) -> None:
        if gen != self._generation:
            return  # a later click since
        self.score_button.disabled = False
        exercise_id, version, trainee = asked
        if exercise_id != self.exercise_id:
            return  # another exercise chosen since: its card is not given this score
        if version != self._plan_version:
            self.result.object = "The plan changed while it was being scored: press **Score my plan** again."
            self._show_rows([])  # an earlier score's feedback is not this plan's either
            return
        if score is None:
            self.result.object = plain(f"The plan could not be scored ({error}).")
            return
        self._show_score(score, trainee)

    def _plan_changed(self, *_: Any) -> None:
        self._plan_version += 1

    def _on_score(self, _e: Any = None) -> Score:
        """Score the plan on screen at once (the card's logic without a served page)."""
        s = score_attempt(self.exercise, self.state.plan_dict(), self.model)
        self._show_score(s, self.trainee.value or "")
        return s

    def _show_score(self, s: Score, trainee: str) -> None:
        self.score = s
        verdict = "passed" if s.passed else "not passed"
        parts = " · ".join(f"{c.name} {c.points:.0f}/{c.max_points:.0f}" for c in s.components.values())
        lines = [f"## Score: {s.total}/100 ({verdict})", f"**{plain(s.verdict())}**", parts]
        lines += [f"- *{c.name}*: {c.detail}" for c in s.components.values()]
        if s.expected:
            lines.append("**Expected result:**\n\n" + "\n".join(
                f"- {'met' if e.met else 'NOT met'}: {plain(e.text)} ({plain(e.measured)})" for e in s.expected))
        if not s.feedback:
            lines.append("No mistakes found: every target reached, nothing to spare reached, doses in range.")
        lines.append(self._record(s, trainee))
        self.result.object = "\n\n".join(x for x in lines if x)
        self.feedback.selection = []
        self._show_rows([{"severity": f.severity, "point": f.point, "structure": f.structure, "message": f.message}
                         for f in s.feedback])

    def _show_rows(self, rows: list[dict[str, str]]) -> None:
        """The feedback table's rows, each with its message open under it."""
        self._rows = rows
        self.feedback.value = self._frame()
        self.feedback.expanded = list(range(len(rows)))

    def _record(self, s: Score, raw: str) -> str:
        """Keep the score under the trainee's name (as it was when Score was pressed)."""
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
