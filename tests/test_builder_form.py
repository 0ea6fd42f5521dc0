"""The Model Builder's form as the page posts it (in-process): a layer is added before the
output layer, a layer after the output is warned about, layers are numbered from 1 in the
cards and in every message, the summary stays while a layer is invalid; and the jobs it
submits are named by what changed from where the model started."""

from __future__ import annotations

import re

from app.training import job_names

BOOK = ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]


def form_of(html: str) -> dict[str, str]:
    """The builder form's fields as the page would post them."""
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option(?: value="([^"]*)")?[^>]*selected[^>]*>([^<]*)<', body)
        if chosen:
            fields[name] = chosen.group(1) if chosen.group(1) is not None else chosen.group(2)
    return fields


def layer_types(html: str) -> list[str]:
    return re.findall(r'class="layer-row" data-index="\d+" data-type="(\w+)"', html)


def render(client, fields: dict[str, str], mode: str = "structure", **more: str):
    r = client.post(f"/builder/render?mode={mode}", data={**fields, **more})
    assert r.status_code == 200, r.text
    return r.text


def test_add_layer_goes_before_the_output_and_a_layer_after_it_is_warned(client):
    page = client.get("/builder?preset=mnist_book").text
    assert layer_types(page) == BOOK
    added = render(client, form_of(page), action="add-from-select", add_type="Dropout")
    assert layer_types(added) == [*BOOK[:-1], "Dropout", "Dense"]  # not after the softmax
    assert "layer-warning" not in added
    # Moved below the output layer: a warning beside it, and the model still trains.
    moved = render(client, form_of(added), action="down:5")
    assert layer_types(moved) == [*BOOK, "Dropout"]
    warning = re.search(r'id="layer-info-6".*?<div class="layer-warning"><div>(.*?)</div>',
                        moved, re.S)
    assert warning and warning.group(1).startswith(
        "Layer 7 comes after the output layer (layer 6, Dense with softmax)")
    assert 'data-valid="true"' in moved
    # Numbered from 1 on the cards, and in the buttons' names.
    assert re.findall(r'<span class="lnum">(\d+)</span>', moved) == [str(i) for i in range(1, 8)]
    assert 'aria-label="Remove layer 1"' in moved and 'aria-label="Remove layer 0"' not in moved


def test_an_invalid_layer_is_marked_in_the_summary_which_stays(client):
    page = client.get("/builder?preset=cifar_model_intro").text
    fields = {**form_of(page), "l2.kernel_size": "40"}  # the second Conv2D: too large
    html = render(client, fields, mode="edit")
    summary = html[html.index('id="summary"'):]
    assert 'data-valid="false"' in summary
    assert "layer 3 (Conv2D): kernel 40×40 is larger than its 15×15 input" in summary
    rows = re.findall(r'<tr data-index="(\d+)" class="(\w+)">', summary)
    assert rows == [("0", "ok"), ("1", "ok"), ("2", "invalid"), ("3", "unknown"),
                    ("4", "unknown"), ("5", "unknown"), ("6", "unknown")]
    assert "(None, 15, 15, 16)" in summary  # the layers before it, as Keras counts them
    # An argument that is not a number: the same, from the first invalid layer on.
    html = render(client, {**form_of(page), "l0.filters": "lots"}, mode="edit")
    summary = html[html.index('id="summary"'):]
    assert "layer 1 (Conv2D): filters:" in summary
    assert re.findall(r'<tr data-index="(\d+)" class="(\w+)">', summary)[:2] == [
        ("0", "invalid"), ("1", "unknown")]


def test_the_api_names_layers_from_1_but_keeps_the_json_index_as_the_field(client):
    spec = {"input_shape": [28, 28, 1], "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3},
        {"type": "Conv2D", "filters": 4, "kernel_size": 40}]}
    r = client.post("/api/architectures/summary", json=spec)
    assert r.status_code == 422
    error = r.json()["detail"][0]
    assert error["loc"] == ["body", "layers", "1"]  # the JSON index, as before
    assert error["msg"].startswith("layer 2 (Conv2D): kernel 40×40")


def test_job_names_say_what_changed():
    from app.training.comparison import settings_fields

    arch = {"input_shape": [32, 32, 3], "layers": [
        {"type": "Conv2D", "filters": 16, "kernel_size": 3}, {"type": "Flatten"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}
    training = {"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 10,
                "validation_split": 0.2, "train_samples": 5000, "seed": None}
    before = settings_fields("cifar10", training, arch)
    assert job_names.job_name("m", before, before) == "m"
    after = settings_fields("cifar10", {**training, "learning_rate": 0.01, "epochs": 5}, {
        **arch, "layers": [{**arch["layers"][0], "filters": 32, "kernel_size": 5},
                           {"type": "Flatten"}, {"type": "Dropout", "rate": 0.5},
                           arch["layers"][2]]})
    assert job_names.changes(before, after) == [
        "lr 0.01", "5 epochs", "layer 1 filters 32, kernel 5×5", "+Dropout"]
    assert job_names.job_name("m", before, after) == (
        "m · lr 0.01 · 5 epochs · layer 1 filters 32, kernel 5×5 · …")  # 66 would not fit
    assert job_names.job_name("cifar_model_intro", before, after) == (
        "cifar_model_intro · lr 0.01 · 5 epochs · …")  # as much as fits in 64 characters
    assert all(len(job_names.job_name("x" * n, before, after)) <= 64 for n in (1, 40, 64, 70))
    assert job_names.job_name("mine", None, after) == "mine"


def test_train_again_names_the_new_job_by_what_changed(visitor):
    """A lesson's model with settings changed, then that job trained again with another
    change: each name says how it differs from the lesson's model; a model of one's own
    trained again says how it differs from the job it came from."""
    client = visitor

    def train(fields: dict[str, str]) -> tuple[str, str]:
        """The job the Train button submits: its id and the name the Jobs list shows."""
        r = client.post("/builder/train", data=fields)
        assert r.status_code == 204, r.text
        job_id = r.headers["hx-redirect"].rsplit("/", 1)[1]
        client.post(f"/api/jobs/{job_id}/cancel")  # nothing here needs it trained
        return job_id, {j["id"]: j["name"] for j in client.get("/api/jobs").json()}[job_id]

    page = client.get("/builder?preset=cifar_model_intro").text
    first, name = train({**form_of(page), "learning_rate": "0.01", "epochs": "1",
                         "train_samples": "100"})
    assert name == "cifar_model_intro · lr 0.01 · 1 epoch · 100 images"
    # Train again: the builder carries where it came from, in the form and in its link.
    again = client.get(f"/builder?job={first}").text
    assert f'name="origin" value="{first}"' in again
    assert f"from={first}" in re.search(r'data-url="([^"]+)"', again).group(1)
    assert 'name="name" value="cifar_model_intro"' in again  # the model's name, not the job's
    assert train({**form_of(again), "batch_size": "64"})[1] == (
        "cifar_model_intro · lr 0.01 · batch 64 · 1 epoch · 100 images")
    assert train({**form_of(again), "name": "my_net", "batch_size": "16"})[1] == "my_net · batch 16"
