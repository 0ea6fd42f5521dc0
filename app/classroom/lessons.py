"""The lessons, as short live steps, and the checks for their exercises.

Each lesson follows one text in `../shared/lessons/` (the two workshop episodes are one
lesson), in the playground's own words: explain a little, then let the learner do it in
the playground (a Kernel Lab state, the 5×5 example cell by cell, an exercise the server
checks, or training the lesson's model). Everything here is data and pure functions:
`check_architecture` and `check_numbers` take an answer and give a verdict with a hint.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import ValidationError

from app.errors import InvalidInput
from app.networks.architecture import (
    ArchitectureSpec,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Layer,
    MaxPooling2D,
    Summary,
    check,
    pair,
)
from app.networks.presets import get_preset

ExerciseKind = Literal["layer", "model", "numbers"]
BlankKind = Literal["int", "pair", "activation", "float"]


# ---------------------------------------------------------------- the lessons as data

@dataclass(frozen=True)
class LabState:
    """A Kernel Lab state: the query string that opens it, and which controls a lesson
    step lets the learner change in place."""

    query: tuple[tuple[str, str], ...]
    controls: tuple[str, ...] = ()

    @property
    def params(self) -> dict[str, str]:
        return dict(self.query)

    @property
    def url(self) -> str:
        return "/kernel-lab?" + urlencode(self.query)


def lab(controls: tuple[str, ...] = (), **query: str | int) -> LabState:
    return LabState(tuple((k, str(v)) for k, v in query.items()), controls)


@dataclass(frozen=True)
class Blank:
    """One argument the learner fills in, with the Keras argument's name."""

    name: str
    kind: BlankKind
    label: str = ""


@dataclass(frozen=True)
class Exercise:
    id: str
    kind: ExerciseKind
    prompt: str
    hint: str
    # "layer": the Keras class whose arguments are blanks, appended to `start`'s layers.
    layer_type: str | None = None
    blanks: tuple[Blank, ...] = ()
    # "layer" and "model": where the learner starts, and the layers asked for (only the
    # arguments named are checked); "numbers": the right numbers.
    start: dict[str, Any] = field(default_factory=dict)
    expect_input: tuple[int, int, int] | None = None
    expect_layers: tuple[dict[str, Any], ...] = ()
    numbers: tuple[float, ...] = ()
    labels: tuple[str, ...] = ()
    success: str = "Right."


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    text: tuple[str, ...] | str  # paragraphs (one may be given alone)
    lab: LabState | None = None
    cells: LabState | None = None  # walk through the feature map cell by cell
    summary_of: str | None = None  # a preset whose model.summary() the step shows
    exercise: Exercise | None = None
    train: str | None = None  # a preset name: "train the lesson's model"

    @property
    def paragraphs(self) -> tuple[str, ...]:
        return (self.text,) if isinstance(self.text, str) else self.text

    @property
    def lab_state(self) -> LabState | None:
        return self.lab or self.cells


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    source: str  # the file(s) in ../shared/lessons it follows
    summary: str
    preset: str
    steps: tuple[Step, ...]

    @property
    def reported_test_accuracy(self) -> float | None:
        preset = get_preset(self.preset)
        return preset.reported_test_accuracy if preset else None

    @property
    def dataset(self) -> str:
        preset = get_preset(self.preset)
        return preset.dataset if preset else ""

    def exercises(self) -> list[Exercise]:
        return [s.exercise for s in self.steps if s.exercise is not None]


def conv(filters: int, k: int, activation: str | None = "relu") -> dict[str, Any]:
    layer: dict[str, Any] = {"type": "Conv2D", "filters": filters, "kernel_size": [k, k]}
    if activation:
        layer["activation"] = activation
    return layer


MAXPOOL = {"type": "MaxPooling2D", "pool_size": [2, 2]}
FLATTEN = {"type": "Flatten"}


def dense(units: int, activation: str) -> dict[str, Any]:
    return {"type": "Dense", "units": units, "activation": activation}


def spec(input_shape: list[int], *layers: dict[str, Any], name: str = "my_model") -> dict[str, Any]:
    return {"name": name, "input_shape": input_shape, "layers": list(layers)}


CONV_BLANKS = (Blank("filters", "int", "filters"), Blank("kernel_size", "pair", "kernel_size"),
               Blank("activation", "activation", "activation"))
CIFAR_HIDDEN = (conv(16, 3), MAXPOOL, conv(32, 3), MAXPOOL, FLATTEN, dense(64, "relu"))
COURSE_MODEL = (conv(32, 3), conv(64, 3), MAXPOOL, {"type": "Dropout", "rate": 0.25}, FLATTEN,
                dense(128, "relu"), {"type": "Dropout", "rate": 0.5}, dense(10, "softmax"))
BOOK_MODEL = (conv(32, 5), MAXPOOL, conv(64, 5), MAXPOOL, FLATTEN, dense(10, "softmax"))

BUILD_A_CNN = Lesson(
    "build-a-cnn", "Build a CNN for CIFAR-10",
    "000_d2ee8e337f32f51c.txt and its revision 002_54c36e77abeb23a3.txt (workshop episode)",
    "From one edge-finding kernel to the workshop's whole CIFAR-10 model, layer by layer, "
    "then train it.",
    "cifar_model_intro",
    (
        Step("kernel", "A kernel finds edges", (
            "A convolution layer slides a small grid of weights, the kernel, across the image. "
            "At each position it multiplies the pixels under the grid by the weights and adds "
            "them up: one number of the feature map.",
            "The workshop's kernel has −1 across its top row and +1 across its bottom row. It "
            "answers strongly where a dark band lies above a light one, and negatively for the "
            "reverse: horizontal borders. Blue is negative, red positive, white zero.",
            "Switch to the vertical edge and see which borders of the cat light up instead."),
            lab=lab(("kernel", "relu"), source="sample:cat", kernel="horizontal_edge")),
        Step("border", "What happens at the border?", (
            "Centred on a corner pixel, a 3×3 kernel would hang off the image. Keras offers two "
            "answers. padding=\"valid\" only uses positions where the kernel fits, so the map "
            "is smaller than the image; padding=\"same\" surrounds the image with zeros, so the "
            "map keeps the image's size.",
            "Switch the padding below and watch the grey zero cells appear around the 5×5 "
            "image."),
            lab=lab(("padding",), source="lesson", kernel="horizontal_edge"),
            exercise=Exercise(
                "build-a-cnn.border", "numbers",
                "A CIFAR-10 image is 32 pixels wide. How wide is the feature map of a 3×3 "
                "kernel with padding \"valid\" and stride 1?",
                "With \"valid\" the whole kernel must lie on the image: count the columns its "
                "centre can stand on (it cannot stand on the outermost column at either side).",
                numbers=(30,), labels=("width",),
                success="Right: 32 − 3 + 1 = 30. Each 3×3 convolution without padding trims "
                        "one pixel from every side.")),
        Step("input", "The input layer", (
            "Keras needs to know the shape of one image before it can size the layers after it: "
            "keras.Input(shape=…). The data set holds many images, but the shape is that of a "
            "single one: height, width and colour channels."),
            exercise=Exercise(
                "build-a-cnn.input", "numbers",
                "CIFAR-10 images are small colour photos. Fill in keras.Input(shape=(height, "
                "width, channels)).",
                "It is the shape of one image, without the number of images in front. A colour "
                "image has one channel each for red, green and blue; the photos are 32 by 32.",
                numbers=(32, 32, 3), labels=("height", "width", "channels"),
                success="Right: (32, 32, 3), one 32×32 photo with red, green and blue.")),
        Step("conv2d", "A convolution layer", (
            "A Conv2D layer learns many kernels at once (its filters), each producing one "
            "feature map. Its three main arguments: how many filters, the kernel's size, and "
            "the activation applied to each result.",
            "Odd kernel sizes have a centre pixel, and a small first layer (few filters) is a "
            "good start: more can come deeper in the network."),
            exercise=Exercise(
                "build-a-cnn.conv2d", "layer",
                "Add a Conv2D layer with 16 filters, a 3×3 kernel and the ReLU activation.",
                "filters is a count (16); kernel_size is the grid's height and width (3, 3); "
                "activation is the name of the function, here relu.",
                layer_type="Conv2D", blanks=CONV_BLANKS, start=spec([32, 32, 3]),
                expect_input=(32, 32, 3), expect_layers=(conv(16, 3),),
                success="Right: 16 feature maps of 30×30, each from its own 3×3×3 kernel.")),
        Step("pooling", "A pooling layer", (
            "Pooling shrinks each feature map: MaxPooling2D keeps the largest value of every "
            "window. A 2×2 window halves the height and the width, so the next convolution sees "
            "a wider part of the picture for the same kernel size."),
            lab=lab(("pool",), source="lesson", kernel="x_filter", pool="max", pool_size=2,
                    pool_stride=1),
            exercise=Exercise(
                "build-a-cnn.pooling", "layer",
                "After the convolution, add a MaxPooling2D layer with a 2×2 window.",
                "pool_size is the window's height and width: two numbers, both 2.",
                layer_type="MaxPooling2D", blanks=(Blank("pool_size", "pair", "pool_size"),),
                start=spec([32, 32, 3], conv(16, 3)), expect_input=(32, 32, 3),
                expect_layers=(conv(16, 3), MAXPOOL),
                success="Right: the 30×30 maps become 15×15.")),
        Step("hidden", "Two blocks, then Flatten and Dense", (
            "One convolution and one pooling layer find simple things; a second pair combines "
            "them into larger patterns. Then Flatten lays all the maps out as one long vector, "
            "which a Dense layer (every input connected to every unit) can read.",
            "Complete the hidden layers: a second block with 32 filters, a Flatten layer, and a "
            "Dense layer of 64 units with ReLU. Edit the model below, as the Model Builder and "
            "the API write it."),
            exercise=Exercise(
                "build-a-cnn.hidden", "model",
                "Two Conv2D + MaxPooling2D blocks (16 then 32 filters, 3×3, ReLU; 2×2 pools), "
                "a Flatten layer, and a Dense layer of 64 units with ReLU.",
                "Each layer takes the output of the one before, so the order matters: conv, "
                "pool, conv, pool, Flatten, Dense.",
                start=spec([32, 32, 3], conv(16, 3), MAXPOOL), expect_input=(32, 32, 3),
                expect_layers=CIFAR_HIDDEN,
                success="Right: 2 blocks turn the 32×32 photo into 6×6×32 = 1,152 numbers, "
                        "and the Dense layer reads all of them.")),
        Step("output", "The output layer", (
            "The last layer has one unit per class. softmax turns its outputs into "
            "probabilities that add up to 1, so the highest one is the network's answer."),
            exercise=Exercise(
                "build-a-cnn.output", "layer",
                "End the model with a Dense layer for CIFAR-10's 10 classes, with softmax.",
                "One unit for each class (airplane, automobile, …, truck: ten of them); the "
                "activation that makes probabilities is softmax.",
                layer_type="Dense",
                blanks=(Blank("units", "int", "units"),
                        Blank("activation", "activation", "activation")),
                start=spec([32, 32, 3], *CIFAR_HIDDEN), expect_input=(32, 32, 3),
                expect_layers=(*CIFAR_HIDDEN, dense(10, "softmax")),
                success="Right: this is the workshop's cifar_model_intro.")),
        Step("summary", "Read the summary", (
            "model.summary() lists every layer with its output shape and its parameters "
            "(weights and biases). None in a shape stands for the batch: any number of images.",
            "A Conv2D layer's parameters are ((kernel height × kernel width × input channels) + "
            "1 bias) × filters; pooling and Flatten learn nothing."),
            summary_of="cifar_model_intro",
            exercise=Exercise(
                "build-a-cnn.params", "numbers",
                "How many parameters does the first Conv2D layer (16 filters, 3×3, on 32×32×3 "
                "photos) have?",
                "Each of the 16 filters has a 3×3 weight grid for each of the 3 colour "
                "channels, plus one bias.",
                numbers=(448,), labels=("parameters",),
                success="Right: ((3·3·3) + 1) · 16 = 448.")),
        Step("train", "Train it", (
            "Train the model you built on CIFAR-10. The episode builds the model and trains it "
            "in the next episode, so it reports no test accuracy: yours is the first figure."),
            train="cifar_model_intro"),
    ),
)

BY_HAND = Lesson(
    "convolution-by-hand", "Convolution by hand, then MNIST",
    "001_a2c1cc3b46def470.txt (course task)",
    "The course's 5×5 image and X-shaped filter, worked through cell by cell; pooling and "
    "padding; then its MNIST model with Dropout.",
    "mnist_course_dropout",
    (
        Step("slide", "Slide the X filter", (
            "The image is 5×5 pixels of 0 and 1; the filter is 3×3 with ones on both diagonals. "
            "Put the filter on the top-left 3×3 block, multiply the pairs of numbers and add "
            "them: that is the first cell of the feature map. Then move one pixel right (stride "
            "1) and do it again, row after row.",
            "Step through the nine cells, or click one, to see its products and their sum."),
            cells=lab(source="lesson", kernel="x_filter", cell="0,0"),
            exercise=Exercise(
                "convolution-by-hand.cell", "numbers",
                "What is the first value of the middle row of the feature map (row 1, column 0, "
                "counting from 0)?",
                "Take the 3×3 block of the image whose top-left corner is row 1, column 0, "
                "multiply it by the filter cell by cell, and add the nine products.",
                numbers=(2,), labels=("value",),
                success="Right: the X meets only two ones there.")),
        Step("pool", "Max pooling", (
            "A pooling layer runs another window over the feature map, and max pooling keeps "
            "only the largest value of each window: where the filter answered most. A 2×2 window "
            "moved 2 cells at a time keeps one value in four.",
            "Below the window moves 1 cell at a time over the 3×3 map; click a pooled cell to "
            "see its window."),
            cells=lab(source="lesson", kernel="x_filter", pool="max", pool_size=2, pool_stride=1),
            exercise=Exercise(
                "convolution-by-hand.pool", "numbers",
                "A 2×2 max pool with stride 2 runs over a 4×4 feature map. How many values "
                "are left?",
                "The windows do not overlap with stride 2: how many 2×2 tiles cover a 4×4 grid?",
                numbers=(4,), labels=("values",),
                success="Right: 16 values become 4, a 2×2 map.")),
        Step("padding", "Zero padding", (
            "Corner pixels fall under the filter once, middle pixels nine times, and each "
            "convolution shrinks the map. Surrounding the image with zeros (padding=\"same\") "
            "lets the filter centre on every pixel, so the map keeps the image's size."),
            cells=lab(source="lesson", kernel="x_filter", padding="same", cell="0,0"),
            exercise=Exercise(
                "convolution-by-hand.padding", "numbers",
                "With zero padding (\"same\"), what are the height and width of the feature "
                "map of the 5×5 image?",
                "With \"same\" and stride 1, the filter's centre visits every pixel once.",
                numbers=(5, 5), labels=("height", "width"),
                success="Right: 5×5, the image's own size.")),
        Step("relu", "ReLU", (
            "A feature map goes through an activation function. ReLU keeps positive values and "
            "turns every negative one into 0: the network keeps where a feature is, not where "
            "its opposite is.",
            "The horizontal-edge kernel gives negative values on this image: switch ReLU on and "
            "off."),
            cells=lab(("relu",), source="lesson", kernel="horizontal_edge", relu="true"),
            exercise=Exercise(
                "convolution-by-hand.relu", "numbers",
                "A cell of the feature map is −2. What is it after ReLU?",
                "ReLU(x) is the larger of x and 0.",
                numbers=(0,), labels=("value",), success="Right: max(−2, 0) = 0.")),
        Step("model", "The course's MNIST model", (
            "The course builds a small network for 28×28 handwritten digits: two convolutions, "
            "one pooling layer, Dropout (which switches off a random part of the units while "
            "training, so the network cannot lean on any one of them), then the classifier.",
            "Complete the model below."),
            exercise=Exercise(
                "convolution-by-hand.model", "model",
                "Conv2D 32 filters 3×3 ReLU; Conv2D 64 filters 3×3 ReLU; MaxPooling2D 2×2; "
                "Dropout 0.25; Flatten; Dense 128 ReLU; Dropout 0.5; Dense 10 softmax.",
                "Dropout's argument is rate, the fraction of units switched off. The last layer "
                "has one unit per digit.",
                start=spec([28, 28, 1], conv(32, 3)), expect_input=(28, 28, 1),
                expect_layers=COURSE_MODEL,
                success="Right: this is the course's model, 1,199,882 parameters.")),
        Step("train", "Train it", (
            "The course trains this model with adam, batches of 128, for 5 epochs on all 60,000 "
            "digits, and reports its test accuracy. Train it and compare."),
            train="mnist_course_dropout"),
    ),
)

SIZES = Lesson(
    "sizes-and-parameters", "Sizes and parameters: the book's MNIST model",
    "003_b7fd399e9140e221.txt (book chapter)",
    "How big each feature map is, how many weights each layer learns, padding and stride, "
    "and the book's two-block model.",
    "mnist_book",
    (
        Step("window", "A 5×5 window over a digit", (
            "An MNIST digit is 28×28 pixels. A 5×5 window can stand in 24 places along each "
            "side before it reaches the border (28 − 5 + 1), so one filter gives a 24×24 map: "
            "one hidden neuron per position, each looking at 25 pixels."),
            lab=lab(("kernel",), source="sample:digit-7", kernel="gaussian_blur_5x5"),
            exercise=Exercise(
                "sizes-and-parameters.window", "numbers",
                "What size is the feature map of a 28×28 digit under a 5×5 window with stride 1 "
                "and no padding?",
                "Count the positions of the window's left edge: from column 0 up to the last "
                "one where all 5 columns still fit.",
                numbers=(24, 24), labels=("height", "width"),
                success="Right: 24×24, as the Kernel Lab's shape shows.")),
        Step("shared", "Shared weights", (
            "Every position of the map uses the same 5×5 weights and the same bias: the filter "
            "learns a pattern once and finds it anywhere. So a filter costs 25 weights + 1 bias, "
            "however large the image."),
            exercise=Exercise(
                "sizes-and-parameters.shared", "numbers",
                "How many parameters has Conv2D(32, (5, 5)) on 28×28×1 digits?",
                "One filter: 5·5 weights for the single channel, plus 1 bias. Then 32 filters.",
                numbers=(832,), labels=("parameters",),
                success="Right: 32 × (25 + 1) = 832.")),
        Step("pooling", "Pooling keeps the shape", (
            "Max pooling 2×2 halves each side and keeps where the strong answers were: the 7 "
            "is still a 7 at half the size."),
            lab=lab(("pool",), source="sample:digit-7", kernel="identity", pool="max",
                    pool_size=2, pool_stride=2),
            exercise=Exercise(
                "sizes-and-parameters.pooling", "numbers",
                "After MaxPooling2D((2, 2)), what is the shape of the 24×24×32 output of the "
                "first layer?",
                "Pooling works on each map on its own: the height and width halve, the number "
                "of maps stays.",
                numbers=(12, 12, 32), labels=("height", "width", "channels"),
                success="Right: (12, 12, 32).")),
        Step("second", "The second block", (
            "The second Conv2D reads all 32 maps at once: each of its filters has a 5×5 grid "
            "for each of the 32 input channels, plus one bias."),
            summary_of="mnist_book",
            exercise=Exercise(
                "sizes-and-parameters.second", "numbers",
                "How many parameters has Conv2D(64, (5, 5)) on the 12×12×32 pooled maps?",
                "((5 · 5 · 32) + 1) · 64.",
                numbers=(51264,), labels=("parameters",),
                success="Right: 801 per filter, 51,264 in all.")),
        Step("stride", "Padding and stride", (
            "padding=\"same\" adds zeros so that the map keeps the image's size; "
            "padding=\"valid\" (Keras' default) adds none. The stride is how far the window "
            "jumps: with stride 2 it skips every other position, and the map is about half as "
            "wide.",
            "Change the stride and the padding on the 5×5 image and read the output-size "
            "formula."),
            cells=lab(("padding", "stride"), source="lesson", kernel="x_filter", stride=2),
            exercise=Exercise(
                "sizes-and-parameters.stride", "numbers",
                "A 3×3 window with stride 2 and padding \"valid\" on a 5×5 image gives a map "
                "of what size?",
                "⌊(n − k) / s⌋ + 1 with n = 5, k = 3, s = 2.",
                numbers=(2, 2), labels=("height", "width"),
                success="Right: ⌊(5 − 3) / 2⌋ + 1 = 2.")),
        Step("model", "Build the book's model", (
            "Put it together: two blocks of a 5×5 convolution with ReLU and a 2×2 max pool (32 "
            "then 64 filters), Flatten, and a Dense softmax layer for the ten digits."),
            exercise=Exercise(
                "sizes-and-parameters.model", "model",
                "Conv2D 32 5×5 ReLU; MaxPooling2D 2×2; Conv2D 64 5×5 ReLU; MaxPooling2D 2×2; "
                "Flatten; Dense 10 softmax.",
                "After the second pool the maps are 4×4×64: Flatten makes them 1,024 numbers "
                "for the Dense layer.",
                start=spec([28, 28, 1], conv(32, 5)), expect_input=(28, 28, 1),
                expect_layers=BOOK_MODEL,
                success="Right: 62,346 parameters, as the book counts them.")),
        Step("train", "Train it", (
            "The book trains this model with plain SGD, batches of 100, for 5 epochs, and "
            "reports its test accuracy. Train it and compare."),
            train="mnist_book"),
    ),
)

TUTORIAL = Lesson(
    "receptive-fields", "Receptive fields, ReLU and average pooling",
    "004_520a02c1fdab244a.txt (tutorial)",
    "What one neuron sees, how stacking layers widens it, ReLU, max against average pooling, "
    "and the book's model trained twice as long.",
    "mnist_book_10_epochs",
    (
        Step("field", "What one neuron sees", (
            "A neuron of a Dense layer sees its whole input; a neuron of a convolution sees only "
            "the patch under its kernel, its receptive field. Click a cell of the feature map: "
            "the input cells it was computed from are outlined."),
            cells=lab(source="lesson", kernel="x_filter", cell="1,1"),
            exercise=Exercise(
                "receptive-fields.field", "numbers",
                "One output of a Conv2D with a 5×5 kernel on a grayscale image depends on how "
                "many input pixels?",
                "Its receptive field is the patch under the kernel.",
                numbers=(25,), labels=("pixels",), success="Right: a 5×5 patch, 25 pixels.")),
        Step("stack", "Stacking widens the view", (
            "Put a 2×2 max pool after that convolution: one pooled value looks at 2×2 outputs "
            "next to each other, and each of those at its own 5×5 patch. The patches overlap, "
            "so together they cover a slightly larger square."),
            exercise=Exercise(
                "receptive-fields.stack", "numbers",
                "After a 5×5 Conv2D (stride 1) and a 2×2 max pool, how many input pixels wide is "
                "the patch one pooled value depends on?",
                "Two neighbouring outputs see 5-wide patches that start one pixel apart.",
                numbers=(6,), labels=("pixels wide",),
                success="Right: 5 + 1 = 6, a 6×6 patch; deeper layers see wider still.")),
        Step("relu", "ReLU", (
            "ReLU is max(0, x): it removes the negative answers of a feature map and keeps the "
            "rest as they are. Switch it on and off on the cat, with the Sobel kernel."),
            lab=lab(("relu",), source="sample:cat", kernel="sobel_bottom", relu="true"),
            exercise=Exercise(
                "receptive-fields.relu", "numbers",
                "What is ReLU(−7)? And ReLU(3)?",
                "max(0, x) for each.",
                numbers=(0, 3), labels=("ReLU(−7)", "ReLU(3)"),
                success="Right: negatives become 0, positives pass unchanged.")),
        Step("average", "Max or average?", (
            "Average pooling keeps the mean of each window instead of the largest value: a "
            "smoother summary. Switch between them and click a pooled cell to see its window."),
            cells=lab(("pool",), source="lesson", kernel="x_filter", pool="average",
                      pool_size=2, pool_stride=1),
            exercise=Exercise(
                "receptive-fields.average", "numbers",
                "The top-left 2×2 window of the feature map holds 4, 3, 2 and 4. What do max "
                "pooling and average pooling keep?",
                "Max: the largest of the four. Average: their sum divided by 4.",
                numbers=(4, 3.25), labels=("max", "average"),
                success="Right: 4 and 13 / 4 = 3.25.")),
        Step("model", "The tutorial's model", (
            "The tutorial trains the book's model: two 5×5 convolution blocks with 32 and 64 "
            "filters, Flatten and a softmax layer. Build it once more."),
            exercise=Exercise(
                "receptive-fields.model", "model",
                "Conv2D 32 5×5 ReLU; MaxPooling2D 2×2; Conv2D 64 5×5 ReLU; MaxPooling2D 2×2; "
                "Flatten; Dense 10 softmax.",
                "Start from the input of 28×28×1; each block is a convolution then a pool.",
                start=spec([28, 28, 1]) | {"layers": [FLATTEN, dense(10, "softmax")]},
                expect_input=(28, 28, 1), expect_layers=BOOK_MODEL,
                success="Right: the same 62,346 parameters.")),
        Step("train", "Train it for 10 epochs", (
            "The tutorial trains for 10 epochs of SGD instead of 5 and reports a higher test "
            "accuracy than the book. Train it and see whether the extra epochs pay."),
            train="mnist_book_10_epochs"),
    ),
)

LESSONS: tuple[Lesson, ...] = (BUILD_A_CNN, BY_HAND, SIZES, TUTORIAL)
_BY_ID = {lesson.id: lesson for lesson in LESSONS}
EXERCISES: dict[str, tuple[Lesson, Exercise]] = {
    e.id: (lesson, e) for lesson in LESSONS for e in lesson.exercises()}
LessonId = StrEnum("LessonId", {x.id: x.id for x in LESSONS})  # type: ignore[misc]
ExerciseId = StrEnum("ExerciseId", {x: x for x in EXERCISES})  # type: ignore[misc]


def get_lesson(lesson_id: str) -> Lesson | None:
    return _BY_ID.get(lesson_id)


def get_exercise(exercise_id: str) -> tuple[Lesson, Exercise] | None:
    return EXERCISES.get(exercise_id)


# ---------------------------------------------------------------- checking answers

@dataclass(frozen=True)
class Verdict:
    correct: bool
    message: str
    hint: str | None = None
    summary: Summary | None = None


# What each argument means, for hints that teach rather than just say "wrong".
ARGUMENT_HELP = {
    "filters": "filters is how many kernels the layer learns (how many feature maps it makes)",
    "kernel_size": "kernel_size is the height and width of each kernel",
    "activation": "activation is the function applied to each output",
    "pool_size": "pool_size is the height and width of the pooling window",
    "strides": "strides is how far the window moves at each step",
    "padding": "padding says whether zeros are added around the input",
    "units": "units is how many neurons the Dense layer has",
    "rate": "rate is the fraction of units Dropout switches off while training",
}


def _canonical(layer: Layer) -> dict[str, Any]:
    """A layer's arguments with Keras' defaults filled in and pairs as pairs, so that
    `kernel_size=3` and `kernel_size=(3, 3)` compare equal, as they are in Keras."""
    args: dict[str, Any] = {"type": layer.kind}
    if isinstance(layer, Conv2D):
        args |= {"filters": layer.filters, "kernel_size": pair(layer.kernel_size),
                 "strides": pair(layer.strides), "padding": layer.padding,
                 "activation": layer.activation or "linear"}
    elif isinstance(layer, MaxPooling2D | AveragePooling2D):
        args |= {"pool_size": pair(layer.pool_size), "padding": layer.padding,
                 "strides": pair(layer.strides if layer.strides is not None else layer.pool_size)}
    elif isinstance(layer, Dense):
        args |= {"units": layer.units, "activation": layer.activation or "linear"}
    elif isinstance(layer, Dropout):
        args |= {"rate": layer.rate}
    return args


def _expected(pattern: dict[str, Any]) -> dict[str, Any]:
    """An expected layer in the same canonical terms (only the arguments it names)."""
    out = dict(pattern)
    for key in ("kernel_size", "pool_size", "strides"):
        if key in out:
            out[key] = pair(out[key])
    return out


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ")"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def describe(pattern: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={_show(v)}" for k, v in _expected(pattern).items() if k != "type")
    return f"{pattern['type']}({args})"


def check_architecture(exercise: Exercise, answer: ArchitectureSpec, *, max_layers: int = 50,
                       max_params: int = 5_000_000) -> Verdict:
    """Whether the learner's model is the one the exercise asks for, and if not, the first
    place where it differs, said so that the learner can fix it."""
    if exercise.kind == "numbers":
        return Verdict(False, "This exercise asks for numbers, not a model.", exercise.hint)
    try:
        summary = check(answer, max_layers, max_params)
    except InvalidInput as exc:
        return Verdict(False, f"This model cannot be built: {exc.message}", exercise.hint)
    if exercise.expect_input is not None and tuple(answer.input_shape) != exercise.expect_input:
        return Verdict(False, f"The input shape is {list(answer.input_shape)}; this model is "
                       f"for images of shape {list(exercise.expect_input)}.", exercise.hint,
                       summary)
    got = [_canonical(layer) for layer in answer.layers]
    want = [_expected(p) for p in exercise.expect_layers]
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        where = f"Layer {i + 1}"
        if g["type"] != w["type"]:
            return Verdict(False, f"{where} is a {g['type']} layer; here the exercise needs a "
                           f"{w['type']} layer.", exercise.hint, summary)
        for key, value in w.items():
            if key != "type" and g.get(key) != value:
                help_text = ARGUMENT_HELP.get(key, key)
                return Verdict(False, f"{where} ({g['type']}): {key} is {_show(g.get(key))}, "
                               f"which is not what the exercise asks for. Remember: "
                               f"{help_text}.", exercise.hint, summary)
    if len(got) < len(want):
        missing = len(want) - len(got)
        return Verdict(False, f"Your model has {len(got)} layer{'s' * (len(got) != 1)}; "
                       f"{missing} more {'is' if missing == 1 else 'are'} needed: the next is a "
                       f"{want[len(got)]['type']} layer.", exercise.hint, summary)
    if len(got) > len(want):
        extra = answer.layers[len(want)]
        return Verdict(False, f"Your model has {len(got)} layers, {len(got) - len(want)} more "
                       f"than asked: remove layer {len(want) + 1} ({extra.kind}) and any after "
                       "it.", exercise.hint, summary)
    return Verdict(True, exercise.success, None, summary)


def check_numbers(exercise: Exercise, answer: list[float]) -> Verdict:
    """Whether the numbers are the right ones: whole numbers exactly, others to two
    decimals (3.25 and 3.250 agree)."""
    if exercise.kind != "numbers":
        return Verdict(False, "This exercise asks for a model (an architecture), not numbers.",
                       exercise.hint)
    want = exercise.numbers
    if len(answer) != len(want):
        names = ", ".join(exercise.labels) or f"{len(want)} numbers"
        return Verdict(False, f"Give {len(want)} number{'s' * (len(want) != 1)} ({names}); you "
                       f"gave {len(answer)}.", exercise.hint)
    wrong = [i for i, (a, w) in enumerate(zip(answer, want, strict=True))
             if not math.isclose(a, w, rel_tol=0, abs_tol=0 if float(w).is_integer() else 0.005)]
    if not wrong:
        return Verdict(True, exercise.success)
    if len(want) == 1:
        return Verdict(False, f"{_num(answer[0])} is not it.", exercise.hint)
    labels = [exercise.labels[i] if i < len(exercise.labels) else f"number {i + 1}" for i in wrong]
    return Verdict(False, f"Not quite: check {', '.join(labels)}.", exercise.hint)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


# ---------------------------------------------------------------- the page's blanks

def spec_text(body: dict[str, Any]) -> str:
    """A model as JSON to edit by hand: one layer per line."""
    head = {k: v for k, v in body.items() if k != "layers"}
    lines = [f'  "{k}": {json.dumps(v)},' for k, v in head.items()]
    layers = [f"    {json.dumps(layer)}" for layer in body.get("layers", [])]
    return "{\n" + "\n".join(lines) + '\n  "layers": [\n' + ",\n".join(layers) + "\n  ]\n}"


def parse_blank(text: str, blank: Blank) -> Any:
    """What a learner typed into a blank, as Keras would take it: `16`, `3` or `(3, 3)` or
    `3x3`, `relu` or `'relu'`."""
    raw = text.strip().strip("'\"").strip()
    if not raw:
        raise InvalidInput(blank.name, "fill in this blank")
    if blank.kind == "int":
        if not re.fullmatch(r"\d{1,6}", raw):
            raise InvalidInput(blank.name, f"{raw!r} is not a whole number")
        return int(raw)
    if blank.kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise InvalidInput(blank.name, f"{raw!r} is not a number") from None
    if blank.kind == "pair":
        parts = [p for p in re.split(r"[\s,x×()\[\]]+", raw) if p]
        if not parts or len(parts) > 2 or not all(re.fullmatch(r"\d{1,4}", p) for p in parts):
            raise InvalidInput(blank.name, f"{raw!r} is not a size: write 3 or (3, 3)")
        nums = [int(p) for p in parts]
        return nums[0] if len(nums) == 1 else nums
    if not re.fullmatch(r"[a-z_]{1,20}", raw):
        raise InvalidInput(blank.name, f"{raw!r} is not an activation's name, such as relu")
    return raw


def architecture_from_blanks(exercise: Exercise, values: dict[str, str]) -> ArchitectureSpec:
    """The exercise's starting model with the learner's layer appended."""
    layer: dict[str, Any] = {"type": exercise.layer_type}
    for blank in exercise.blanks:
        layer[blank.name] = parse_blank(values.get(blank.name, ""), blank)
    body = {**exercise.start, "layers": [*exercise.start.get("layers", []), layer]}
    try:
        return ArchitectureSpec.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = str(first["loc"][-1]) if first["loc"] else "layer"
        raise InvalidInput(where, str(first["msg"])) from None


def parse_numbers(values: list[str]) -> list[float]:
    out = []
    for i, raw in enumerate(values):
        text = re.sub(r"[\s\u202f]", "", raw).replace("−", "-")
        if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
            text = text.replace(",", "")  # 51,264
        elif "," in text and "." not in text:
            text = text.replace(",", ".")  # 3,25
        try:
            value = float(text)
        except ValueError:
            raise InvalidInput(f"answer.{i}", f"{raw.strip() or 'an empty box'!r} is not a "
                               "number") from None
        if not math.isfinite(value):
            raise InvalidInput(f"answer.{i}", "must be a finite number")
        out.append(value)
    return out
