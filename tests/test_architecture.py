"""Architecture specs: summaries identical to Keras, presets from the lessons, clear refusals."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from pydantic import ValidationError

from app.errors import InvalidInput, LimitExceeded
from app.networks.architecture import ArchitectureSpec, build_model, check
from app.networks.presets import PRESETS, get_preset


def keras_summary(spec: ArchitectureSpec):
    model = build_model(spec)
    return [(layer.name, type(layer).__name__, tuple(layer.output.shape), layer.count_params())
            for layer in model.layers[1:]], model.count_params()


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_presets_match_keras(preset):
    spec = ArchitectureSpec.model_validate(preset.architecture)
    summary = check(spec)
    layers, total = keras_summary(spec)
    ours = [(r.name, r.type, r.output_shape, r.params) for r in summary.layers]
    assert ours == layers
    assert summary.total_params == total


def test_lesson_parameter_counts():
    counts = {p.name: check(ArchitectureSpec.model_validate(p.architecture)).total_params
              for p in PRESETS}
    assert counts["cifar_model_intro"] == 79_530
    assert counts["mnist_book"] == 62_346
    assert get_preset("mnist_course_dropout").reported_test_accuracy == 0.9895
    assert get_preset("mnist_book").training == {"optimizer": "sgd", "learning_rate": 0.01,
                                                 "batch_size": 100, "epochs": 5,
                                                 "validation_split": 0.0}


def test_every_layer_type_strides_padding_and_shorthand_match_keras():
    spec = ArchitectureSpec.model_validate({"input_shape": [33, 31, 3], "layers": [
        {"type": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2, "padding": "same"},
        {"type": "BatchNormalization"},
        {"type": "Conv2D", "filters": 6, "kernel_size": [5, 3], "use_bias": False,
         "activation": "relu"},
        {"type": "AveragePooling2D", "pool_size": 3, "strides": 2},
        {"type": "MaxPooling2D", "pool_size": [2, 1], "padding": "same"},
        {"type": "Dropout", "rate": 0.3},
        {"type": "GlobalAveragePooling2D"},
        {"type": "Dense", "units": 7, "activation": "tanh"},
        {"type": "BatchNormalization"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]})
    summary = check(spec)
    layers, total = keras_summary(spec)
    assert [(r.name, r.type, r.output_shape, r.params) for r in summary.layers] == layers
    assert summary.total_params == total
    # BatchNormalization: gamma/beta train, the moving mean/variance do not.
    assert summary.total_params - summary.trainable_params == 2 * 8 + 2 * 7


AUGMENTED = {"input_shape": [40, 36, 3], "layers": [
    {"type": "RandomFlip", "mode": "horizontal"},
    {"type": "RandomRotation", "factor": [-0.1, 0.2], "fill_mode": "constant"},
    {"type": "RandomTranslation", "height_factor": 0.1, "width_factor": [-0.2, 0.1]},
    {"type": "RandomZoom", "height_factor": 0.2, "width_factor": 0.1, "interpolation": "nearest"},
    {"type": "RandomContrast", "factor": 0.3, "value_range": [0, 1], "seed": 3},
    {"type": "Conv2D", "filters": 4, "kernel_size": 3},
    {"type": "RandomFlip", "name": "flip_again"},
    {"type": "GlobalAveragePooling2D"},
    {"type": "Dense", "units": 3, "activation": "softmax"}]}


def test_augmentation_layers_match_keras_and_act_only_in_training():
    spec = ArchitectureSpec.model_validate(AUGMENTED)
    summary = check(spec)
    layers, total = keras_summary(spec)
    assert [(r.name, r.type, r.output_shape, r.params) for r in summary.layers] == layers
    assert summary.total_params == total == 4 * (3 * 3 * 3 + 1) + 3 * (4 + 1)
    model = build_model(spec)
    # Keras' own arguments, as the spec wrote them.
    config = {layer.name: layer.get_config() for layer in model.layers}
    assert config["random_flip"]["mode"] == "horizontal"
    assert tuple(config["random_rotation"]["factor"]) == (-0.1, 0.2)
    assert config["random_rotation"]["fill_mode"] == "constant"
    assert tuple(config["random_translation"]["width_factor"]) == (-0.2, 0.1)
    assert config["random_zoom"]["interpolation"] == "nearest"
    assert tuple(config["random_contrast"]["value_range"]) == (0, 1)
    assert config["flip_again"]["mode"] == "horizontal_and_vertical"  # Keras' default
    # At inference they pass the image through; in training they change it.
    x = np.random.default_rng(0).random((2, 40, 36, 3)).astype("float32")
    augment = keras.Model(model.inputs, model.get_layer("random_contrast").output)
    assert np.array_equal(augment([x], training=False).numpy(), x)
    assert not np.allclose(augment([x], training=True).numpy(), x)


@pytest.mark.parametrize(
    ("layer", "fragment"),
    [
        ({"type": "RandomRotation", "factor": 1.5}, "less than or equal to 1"),
        ({"type": "RandomZoom", "height_factor": [0.1, -2]}, "greater than or equal to -1"),
        ({"type": "RandomContrast", "factor": -0.2}, "greater than or equal to 0"),
        ({"type": "RandomContrast", "factor": 0.2, "value_range": [1, 0]}, "low < high"),
        ({"type": "RandomFlip", "mode": "diagonal"}, "'horizontal'"),
        ({"type": "RandomTranslation", "height_factor": 0.1}, "width_factor"),
    ],
)
def test_augmentation_refusals(layer, fragment):
    with pytest.raises(ValidationError) as err:
        ArchitectureSpec.model_validate({"input_shape": [32, 32, 3], "layers": [layer]})
    assert fragment in str(err.value)


def test_augmentation_needs_an_image():
    spec = ArchitectureSpec.model_validate({"input_shape": [32, 32, 3], "layers": [
        {"type": "Flatten"}, {"type": "RandomFlip"}]})
    with pytest.raises(InvalidInput, match="cannot follow Flatten"):
        check(spec)


@pytest.mark.parametrize(
    ("layers", "where", "fragment"),
    [
        ([{"type": "Conv2D", "filters": 4, "kernel_size": 29}], "layers.0", "larger than its 28×28"),
        ([{"type": "MaxPooling2D", "pool_size": 2}] * 5, "layers.4", "larger than its 1×1 input"),
        ([{"type": "Flatten"}, {"type": "Conv2D", "filters": 2, "kernel_size": 3}], "layers.1",
         "cannot follow Flatten"),
        ([{"type": "Dense", "units": 4, "name": "x"}, {"type": "Dense", "units": 4, "name": "x"}],
         "layers.1", "used twice"),
    ],
)
def test_impossible_models_name_the_layer(layers, where, fragment):
    spec = ArchitectureSpec.model_validate({"input_shape": [28, 28, 1], "layers": layers})
    with pytest.raises(InvalidInput) as err:
        check(spec)
    assert err.value.field == where and fragment in err.value.message
    # The field is the JSON index; the words count from 1, as the Builder numbers its cards.
    assert err.value.message.startswith(f"layer {int(where.split('.')[1]) + 1} (")


def test_limits():
    many = {"input_shape": [28, 28, 1], "layers": [{"type": "Dropout", "rate": 0.1}] * 60}
    with pytest.raises(ValidationError, match="at most 50 items"):  # the schema's ceiling
        ArchitectureSpec.model_validate(many)
    twenty = ArchitectureSpec.model_validate({**many, "layers": many["layers"][:20]})
    with pytest.raises(LimitExceeded, match="20 layers is over the limit of 10"):  # a lower setting
        check(twenty, max_layers=10)
    huge = {"input_shape": [28, 28, 1], "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 4096}, {"type": "Dense", "units": 4096}]}
    with pytest.raises(LimitExceeded, match="over the limit of 5,000,000"):
        check(ArchitectureSpec.model_validate(huge))


# ------------------------------------------------------------------ over HTTP

def test_summary_endpoint(client):
    r = client.post("/api/architectures/summary", json=get_preset("mnist_book").architecture)
    assert r.status_code == 200
    body = r.json()
    assert body["total_params"] == 62_346 and body["trainable_params"] == 62_346
    assert body["layers"][0] == {"name": "conv2d", "type": "Conv2D",
                                 "output_shape": [None, 24, 24, 32], "params": 832}


@pytest.mark.parametrize(
    ("layers", "loc_start", "fragment"),
    [
        ([{"type": "Conv2D", "filters": 4, "kernel_size": 30}], ["body", "layers", "0"], "larger"),
        ([{"type": "Conv3D", "filters": 4}], ["body", "layers", 0], "does not match"),
        ([{"type": "Conv2D", "filters": 4, "kernel_size": 3, "dilation": 2}],
         ["body", "layers", 0, "Conv2D", "dilation"], "Extra inputs"),
        ([{"type": "Conv2D", "filters": 0, "kernel_size": 3}],
         ["body", "layers", 0, "Conv2D", "filters"], "greater than or equal to 1"),
        ([{"type": "Conv2D", "filters": 4, "kernel_size": -3}],
         ["body", "layers", 0, "Conv2D", "kernel_size"], "greater than or equal to 1"),
        ([{"type": "Dropout", "rate": 1.5}], ["body", "layers", 0, "Dropout", "rate"], "less than 1"),
    ],
)
def test_summary_endpoint_refusals(client, layers, loc_start, fragment):
    r = client.post("/api/architectures/summary", json={"input_shape": [28, 28, 1], "layers": layers})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(d["loc"][: len(loc_start)] == loc_start and fragment in d["msg"] for d in detail), detail


def test_presets_endpoint(client):
    presets = {p["name"]: p for p in client.get("/api/presets").json()}
    assert set(presets) >= {"cifar_model_intro", "mnist_course_dropout", "mnist_book"}
    assert presets["mnist_book"]["reported_test_accuracy"] == 0.9704
    assert presets["cifar_model_intro"]["dataset"] == "cifar10"
    assert keras.__version__  # the summaries above were compared with this Keras
