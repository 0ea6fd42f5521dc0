"""A lesson, as the playground runs it: short live steps, some with an exercise.

The lessons themselves are data: one YAML file each (`shipped_lessons/` inside this
package, and any a teacher puts in `CNNPG_LESSONS_DIR`), read and checked by
`app/classroom/lesson_files.py` into the typed models here. Pydantic validates every
field when a file is loaded, and the checks a schema cannot state (a kernel or preset
that exists, an expected model Keras can build, a label per number) are validators on
these models, so a teacher's mistake is reported with the field it is in. The models
only describe; `app/classroom/exercises.py` checks the learner's answers.

Ids are what links and the API use: a lesson's id (`/lessons/build-a-cnn`), a step's id
(`#step-kernel`), and an exercise's id, `<lesson id>.<its own id or its step's id>`
(`/api/exercises/build-a-cnn.params/check`).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.errors import InvalidInput, LimitExceeded
from app.lab.kernels import get_kernel
from app.lab.samples import get_sample
from app.networks.architecture import ArchitectureSpec, check
from app.networks.layers import LAYER_CLASSES, LayerSpec
from app.networks.presets import get_preset

ExerciseKind = Literal["layer", "model", "numbers"]
BlankKind = Literal["int", "pair", "activation", "float"]
LabControl = Literal["kernel", "padding", "stride", "relu", "pool"]
# Ids appear in addresses (/lessons/ID, #step-ID) and CSS selectors: lower-case words.
ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
LESSON_ID_PATTERN = ID_PATTERN
EXERCISE_ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$"
Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=40)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
Title = Annotated[str, Field(min_length=1, max_length=120)]
MAX_NUMBERS = 8  # the most numbers one exercise asks for (the API's NumbersAnswer)
_LAYERS = TypeAdapter(list[LayerSpec])


def problem(at: str, message: str) -> PydanticCustomError:
    """A validator's complaint about a field below the one it validates: `at` is its
    dotted path (e.g. "answer.2.filters"), so the file's line can be found."""
    return PydanticCustomError("lesson", "{at}: {message}" if at else "{message}",
                               {"at": at, "message": message})


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabState(_Data):
    """A Kernel Lab state a step shows: the lab's own settings (the names its address
    uses), and which of them the learner may change in place (`controls`)."""

    source: str = Field(description='"lesson" (the 5×5 example) or "sample:NAME".')
    kernel: str = "horizontal_edge"
    stride: int | None = Field(None, ge=1, le=3)
    padding: Literal["valid", "same"] | None = None
    relu: bool | None = None
    pool: Literal["none", "max", "average"] | None = None
    pool_size: int | None = Field(None, ge=1, le=4)
    pool_stride: int | None = Field(None, ge=1, le=4)
    cell: str | None = Field(None, pattern=r"^\d{1,2},\d{1,2}$")
    controls: tuple[LabControl, ...] = ()

    @field_validator("source")
    @classmethod
    def _source(cls, v: str) -> str:
        if v != "lesson" and not (v.startswith("sample:") and get_sample(v[7:])):
            raise ValueError(f"{v!r} is neither \"lesson\" nor a sample (sample:cat, "
                             "sample:astronaut, sample:digit-0, sample:digit-3, sample:digit-7)")
        return v

    @field_validator("kernel")
    @classmethod
    def _kernel(cls, v: str) -> str:
        if get_kernel(v) is None:
            raise ValueError(f"{v!r} is not a kernel of the catalog (GET /api/kernels)")
        return v

    @property
    def query(self) -> tuple[tuple[str, str], ...]:
        """The settings given, in the lab's address order ("true"/"false" for ReLU)."""
        out = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "controls" or (value is None and name != "kernel"):
                continue
            out.append((name, str(value).lower() if isinstance(value, bool) else str(value)))
        return tuple(out)

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    @property
    def url(self) -> str:
        return "/kernel-lab?" + urlencode(self.query)


class Blank(_Data):
    """One argument of a Keras layer the learner fills in, by its Keras name."""

    name: str
    kind: BlankKind

    @property
    def label(self) -> str:
        return self.name


class Exercise(BaseModel):
    """An exercise the server checks. "numbers": the numbers in `answer`, one per label;
    "layer": the arguments (`blanks`) of one `layer`, appended to the `start` layers;
    "model": the whole model, edited from `start`. For "layer" and "model", `answer` holds
    the layers asked for, and only the arguments it names are checked."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field("", description="Its own id, if not its step's; made whole "
                    "(<lesson>.<id>) when the lesson is loaded.")
    kind: ExerciseKind
    prompt: Text
    hint: Text
    success: Text = "Right."
    answer: list[Any] = Field(min_length=1, max_length=50)
    labels: tuple[Annotated[str, Field(min_length=1, max_length=40)], ...] = ()
    layer: str | None = None
    blanks: tuple[Blank, ...] = ()
    input_shape: tuple[int, int, int] | None = None
    start_layers: list[dict[str, Any]] = Field(default_factory=list, max_length=50, alias="start")

    @field_validator("blanks", mode="before")
    @classmethod
    def _blanks(cls, v: Any) -> Any:
        """`blanks: {filters: int, kernel_size: pair}` in a file: the names in order."""
        return [{"name": k, "kind": kind} for k, kind in v.items()] if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _complete(self) -> Exercise:
        if self.kind == "numbers":
            self._check_numbers()
        else:
            self._check_model()
        return self

    def _check_numbers(self) -> None:
        if len(self.answer) > MAX_NUMBERS:
            raise problem("answer", f"at most {MAX_NUMBERS} numbers")
        for i, v in enumerate(self.answer):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise problem(f"answer.{i}", f"{v!r} is not a number")
        if len(self.labels) != len(self.answer):
            raise problem("labels", f"give one label per number: {len(self.answer)} numbers, "
                          f"{len(self.labels)} labels")
        for name in ("layer", "blanks", "input_shape", "start_layers"):
            if name in self.model_fields_set:
                raise problem(name.removesuffix("_layers"), "only \"layer\" and \"model\" "
                              "exercises take it")

    def _check_model(self) -> None:
        if self.input_shape is None:
            raise problem("input_shape", "a \"layer\" or \"model\" exercise needs the "
                          "model's input shape, e.g. [28, 28, 1]")
        if self.labels:
            raise problem("labels", "only \"numbers\" exercises take labels")
        _valid_layers("start", self.start_layers)
        _valid_layers("answer", self.answer)
        try:
            check(ArchitectureSpec.model_validate(self.expected_model))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"] if not str(p)[:1].isupper())
            raise problem(where.replace("layers", "answer", 1), str(first["msg"])) from None
        except (InvalidInput, LimitExceeded) as exc:
            raise problem("answer", f"Keras could not build this model: {exc.message}") from None
        if self.kind == "layer":
            self._check_layer()
        elif self.layer or self.blanks:
            raise problem("layer" if self.layer else "blanks", "only \"layer\" exercises take it")

    def _check_layer(self) -> None:
        cls = LAYER_CLASSES.get(self.layer or "")
        if cls is None:
            raise problem("layer", f"{self.layer!r} is not a layer type: one of "
                          + ", ".join(LAYER_CLASSES))
        if not self.blanks:
            raise problem("blanks", "name the arguments to fill in, e.g. {filters: int}")
        for blank in self.blanks:
            if blank.name not in cls.model_fields or blank.name in ("type", "name"):
                raise problem(f"blanks.{blank.name}", f"{self.layer} has no argument "
                              f"{blank.name!r}")
        if len(self.answer) != len(self.start_layers) + 1 or self.answer[-1].get("type") != self.layer:
            raise problem("answer", f"a \"layer\" exercise's answer is the start layers and "
                          f"one {self.layer} layer after them")

    @property
    def layer_type(self) -> str | None:
        return self.layer

    @property
    def numbers(self) -> tuple[float, ...]:
        return tuple(self.answer) if self.kind == "numbers" else ()

    @property
    def expect_input(self) -> tuple[int, int, int] | None:
        return self.input_shape

    @property
    def expect_layers(self) -> tuple[dict[str, Any], ...]:
        return () if self.kind == "numbers" else tuple(self.answer)

    @property
    def expected_model(self) -> dict[str, Any]:
        return {"name": "answer", "input_shape": list(self.input_shape or ()),
                "layers": list(self.answer)}

    @property
    def start(self) -> dict[str, Any]:
        """The model the learner starts from, as the Model Builder and the API write it
        (empty for a "numbers" exercise)."""
        if self.kind == "numbers":
            return {}
        return {"name": "my_model", "input_shape": list(self.input_shape or ()),
                "layers": list(self.start_layers)}


def _valid_layers(at: str, layers: list[Any]) -> None:
    try:
        _LAYERS.validate_python(layers)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p)[:1].isupper())
        raise problem(f"{at}.{where}", str(first["msg"])) from None


class Step(BaseModel):
    """One step: paragraphs to read, then at most one thing to do (a Kernel Lab state, or
    the same walked through cell by cell, a model's summary, an exercise, training)."""

    model_config = ConfigDict(extra="forbid")

    id: Id
    title: Title
    text: tuple[Text, ...] = Field(min_length=1, max_length=12)
    lab: LabState | None = None
    cells: LabState | None = Field(None, description="A Kernel Lab state to walk through "
                                   "cell by cell.")
    summary_of: str | None = Field(None, description="A preset whose model.summary() to show.")
    exercise: Exercise | None = None
    train: str | None = Field(None, description="A preset to train.")

    @field_validator("text", mode="before")
    @classmethod
    def _one_paragraph(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("summary_of", "train")
    @classmethod
    def _preset(cls, v: str | None) -> str | None:
        if v is not None and get_preset(v) is None:
            raise ValueError(f"{v!r} is not a preset (GET /api/presets)")
        return v

    @model_validator(mode="after")
    def _one_lab(self) -> Step:
        if self.lab is not None and self.cells is not None:
            raise problem("cells", "a step shows one Kernel Lab: \"lab\" or \"cells\", not both")
        return self

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return self.text

    @property
    def lab_state(self) -> LabState | None:
        return self.lab or self.cells

    @property
    def read_only(self) -> bool:
        """Done once the learner has read it and moved on (no exercise, no training)."""
        return self.exercise is None and self.train is None


class Source(_Data):
    """The text a lesson follows: its own title, as learners see it; `files` is where it
    came from (provenance for whoever maintains the lesson, never shown)."""

    title: Title
    files: tuple[str, ...] = ()


class Lesson(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=LESSON_ID_PATTERN, max_length=40)]
    title: Title
    kind: Annotated[str, Field(min_length=1, max_length=40)] = Field(
        description="What the text it follows is: a workshop episode, a course task, a book "
        "chapter, a tutorial…")
    source: Source
    summary: Text
    preset: str = Field(description="The lesson's model (a preset), trained in its last step.")
    steps: tuple[Step, ...] = Field(min_length=1, max_length=40)

    @field_validator("preset")
    @classmethod
    def _preset(cls, v: str) -> str:
        if get_preset(v) is None:
            raise ValueError(f"{v!r} is not a preset (GET /api/presets)")
        return v

    @model_validator(mode="after")
    def _ids(self) -> Lesson:
        """Step and exercise ids unique in the lesson; each exercise's id made whole."""
        seen: set[str] = set()
        exercises: set[str] = set()
        for i, step in enumerate(self.steps):
            if step.id in seen:
                raise problem(f"steps.{i}.id", f"another step is already called {step.id!r}")
            seen.add(step.id)
            if step.exercise is None:
                continue
            own = step.exercise.id or step.id
            if not re.fullmatch(ID_PATTERN, own) or len(own) > 40:
                raise problem(f"steps.{i}.exercise.id", f"{own!r} is not an id: lower-case "
                              "letters and digits, words joined by -")
            if own in exercises:
                raise problem(f"steps.{i}.exercise.id", f"another exercise is already "
                              f"called {own!r}")
            exercises.add(own)
            step.exercise.id = f"{self.id}.{own}"
        return self

    @property
    def reported_test_accuracy(self) -> float | None:
        preset = get_preset(self.preset)
        return preset.reported_test_accuracy if preset else None

    @property
    def dataset(self) -> str:
        preset = get_preset(self.preset)
        return preset.dataset if preset else ""

    @property
    def follows(self) -> str:
        """What learners are told the lesson follows: the text's title and kind."""
        return f"“{self.source.title}” ({self.kind})"

    def exercises(self) -> list[Exercise]:
        return [s.exercise for s in self.steps if s.exercise is not None]

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)
