"""A CIFAR-10 model's job and model pages, and an uploaded model's card, as a learner reads
them: Draw is offered only for models that read 28×28 drawings; the confusion matrix has a
whole class name over every column; the curves' legend tells its series apart and says what
the per-step line is; an uploaded model's card lists the layers read from its file."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import assert_accessible, browser_page, wait_job
from tests.explain_models import CIFAR_CLASSES, cifar_model

SMALL_CIFAR = {"architecture": "cifar_model_intro", "dataset": "cifar10",
               "training": {"epochs": 2, "batch_size": 32, "train_samples": 200,
                            "validation_split": 0.2, "seed": 3}}


@pytest.fixture(scope="module")
def cifar_job(client):
    r = client.post("/api/jobs", json=SMALL_CIFAR)
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"], ("succeeded", "failed"))
    assert job["status"] == "succeeded", job["error"]
    return job


@pytest.fixture(scope="module")
def uploaded(client, tmp_path_factory):
    """A CIFAR-shaped model of one's own, uploaded with no dataset and no class names."""
    model = cifar_model()
    path = tmp_path_factory.mktemp("upload") / "mine.keras"
    model.save(path)
    r = client.post("/api/models", files={"file": ("mine.keras", path.read_bytes())},
                    data={"name": "my_upload"})
    assert r.status_code == 201, r.text
    return r.json(), model


def test_draw_is_offered_only_for_models_that_read_drawings(client, cifar_job):
    model_id = cifar_job["result"]["model_id"]
    job_page = client.get(f"/jobs/{cifar_job['id']}").text
    assert f"/explain?model={model_id}" in job_page and "/draw?model=" not in job_page
    model_page = client.get(f"/models/{model_id}").text
    assert "Try it in Draw" not in model_page and f"/explain?model={model_id}" in model_page
    rows = dict(re.findall(r'<tr data-model="([^"]+)">(.*?)</tr>', client.get("/models").text,
                           re.S))
    assert f"/draw?model={model_id}" not in rows[model_id]
    assert "/draw?model=mnist_digits" in rows["mnist_digits"]  # a 28×28 grayscale model
    assert "Try it in Draw" in client.get("/models/mnist_digits").text
    # Draw lists only models that read drawings; one opened by its link says why it cannot.
    draw = client.get(f"/draw?model={model_id}").text
    assert 'id="not-drawable"' in draw and 'data-drawable="false"' in draw
    assert f'<option value="{model_id}" selected>' in draw
    assert f'<option value="{model_id}"' not in client.get("/draw").text


def test_the_confusion_matrix_names_every_column_in_full(client, cifar_job):
    page = client.get(f"/jobs/{cifar_job['id']}").text
    matrix = page[page.index('<table class="confusion">'):]
    matrix = matrix[:matrix.index("</table>")]
    heads = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', matrix)
    assert len(heads) == len(CIFAR_CLASSES) + 2  # the corner, each class, accuracy
    assert [re.sub(r"<[^>]+>", "", h) for h in heads[1:]] == [*CIFAR_CLASSES, "accuracy"]
    body = matrix[matrix.index("<tbody>"):]
    assert all(len(re.findall(r"<td", row)) == len(CIFAR_CLASSES) + 1
               for row in re.findall(r"<tr>(.*?)</tr>", body))  # a header over every column
    assert "each batch's own value, smoothed over about a fiftieth of an epoch" in page


def test_an_uploaded_models_card_lists_the_layers_in_its_file(client, uploaded):
    item, model = uploaded
    page = client.get(f"/models/{item['id']}").text
    lead = re.search(r'<p class="lead" id="model-lead">(.*?)</p>', page, re.S).group(1)
    assert lead.startswith("32×32×3 input · ")  # no stray dot where no dataset is
    assert "Dataset</dt>" not in page and "()" not in re.sub(r"<[^>]+>", "", lead)
    assert "No architecture was recorded" not in page and 'id="layers-from-file"' in page
    table = page[page.index('id="model-summary"'):]
    for layer in model.layers[1:]:  # after its InputLayer, as model.summary() lists them
        row = re.search(rf"<tr><td>{layer.name} <span class=\"muted\">\((\w+)\)</span></td>"
                        rf"<td><code>\(([^)]*)\)</code></td><td class=\"num\">([\d,]+)</td>",
                        table)
        assert row, layer.name
        assert row.group(1) == type(layer).__name__
        assert row.group(2) == ", ".join(str(d) for d in layer.output.shape)
        assert int(row.group(3).replace(",", "")) == layer.count_params()
    assert f"{model.count_params():,} parameters" in lead


@pytest.mark.browser
def test_the_curves_legend_tells_the_series_apart(browser, server, cifar_job):
    with browser_page(browser, server.url) as pg:
        pg.goto(f"{server.url}/jobs/{cifar_job['id']}")
        expect(pg.locator("html")).to_have_attribute("data-chart-points", "2")
        legend = pg.evaluate("""() => {
          const chart = Chart.getChart("loss-chart");
          return {points: chart.options.plugins.legend.labels.usePointStyle,
                  series: chart.data.datasets.map(d => [d.label, d.pointStyle, d.data.length])};
        }""")
        assert legend["points"] is True
        labels, styles, counts = zip(*legend["series"], strict=True)
        assert labels == ("training, per batch (smoothed)", "training, epoch mean", "validation")
        assert len(set(styles)) == 3  # a line, dots, diamonds: each its own mark
        # The per-step line is the server's smoothed points, nothing added in the page.
        assert counts[0] == len(cifar_job["progress"]["steps"]) and counts[1:] == (2, 2)
        expect(pg.locator("#chart-key")).to_contain_text("smoothed")
        assert_accessible(pg, "a CIFAR-10 job's page")
