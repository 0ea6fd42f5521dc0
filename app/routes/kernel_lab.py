"""Kernel Lab: the kernel catalog, POST /api/convolve (JSON or the page's form) and the page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from app import convolution as conv
from app.errors import InvalidInput, LimitExceeded
from app.kernel_lab import GRID_SIZES, LabRequest, build_view, matrix_text
from app.kernels import KERNELS
from app.samples import LESSON_5X5, SAMPLES
from app.web import (
    describe_errors,
    error_items,
    is_htmx,
    json_body,
    settings_of,
    templates,
    upload_bytes,
    validate,
)

router = APIRouter()

Matrix2D = list[list[float]]
Matrix3D = list[list[list[float]]]


class KernelOut(BaseModel):
    name: str
    label: str
    matrix: Matrix2D
    description: str


class ConvolveRequest(conv.ConvolutionSettings):
    image: Matrix2D | Matrix3D = Field(
        description="Height × width (× channels) numbers; a 2-D kernel filters each channel."
    )
    kernel: Annotated[str, Field(max_length=64)] | Matrix2D = Field(
        description="A catalog name from GET /api/kernels, or a matrix with odd sides."
    )


class Range(BaseModel):
    min: float
    max: float


class ConvolveResponse(BaseModel):
    feature_map: list[Any] | None = Field(None, description="Given for JSON input.")
    activated: list[Any] | None = None
    pooled: list[Any] | None = None
    shapes: dict[str, list[int] | None]
    ranges: dict[str, Range | None]
    images: dict[str, list[str]] | None = Field(
        None, description="For uploads: PNG data URLs per stage, one per channel, on a "
        "diverging scale symmetric about zero."
    )


def _form_schema() -> dict[str, Any]:
    schema = LabRequest.model_json_schema()
    schema["properties"]["file"] = {"type": "string", "format": "binary",
                                    "description": 'The image, with source "upload".'}
    return schema


CONVOLVE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ConvolveRequest"}},
            "multipart/form-data": {"schema": _form_schema()},
            "application/x-www-form-urlencoded": {"schema": LabRequest.model_json_schema()},
        },
    }
}


@router.get("/api/kernels", response_model=list[KernelOut], tags=["kernel lab"])
def list_kernels() -> list[dict]:
    """The kernel catalog, each with what it finds in an image."""
    return [k.as_dict() for k in KERNELS]


def _ranges(result: conv.ConvolutionResult) -> dict[str, Range | None]:
    def r(x):
        return None if x is None else Range(min=float(x.min()), max=float(x.max()))

    return {"feature_map": r(result.feature_map), "activated": r(result.activated),
            "pooled": r(result.pooled)}


async def _form_request(request: Request) -> tuple[LabRequest, bytes | None]:
    settings = settings_of(request)
    form = await request.form(max_files=1, max_fields=200, max_part_size=settings.max_upload_bytes)
    data: dict[str, Any] = {k: v for k, v in form.items() if k not in ("file", "k")}
    data["k"] = [v for v in form.getlist("k") if isinstance(v, str) and v.strip() != ""]
    data["relu"] = form.get("relu") in ("on", "true", "1")
    upload = form.get("file")
    raw = None
    if upload is not None and not isinstance(upload, str):
        raw = await upload_bytes(upload, settings)
    return validate(LabRequest, data), raw


@router.post(
    "/api/convolve",
    response_model=ConvolveResponse,
    tags=["kernel lab"],
    openapi_extra=CONVOLVE_BODY,
    responses={413: {"description": "Over the upload or request size limit"}},
)
async def convolve(request: Request) -> Response:
    """Convolve, apply ReLU and pool, exactly as Keras `Conv2D` and its pooling layers do.

    JSON gives the maps as numbers. The Kernel Lab's form (multipart, with an image
    file or a sample) gives images; with htmx it gets the results as HTML.
    """
    settings = settings_of(request)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/json"):
        req = validate(ConvolveRequest, await json_body(request))
        image = conv.as_image(req.image)
        if image.shape[0] * image.shape[1] > settings.max_image_pixels:
            raise LimitExceeded("image", f"over the limit of {settings.max_image_pixels} pixels")
        kernel = conv.resolve_kernel(req.kernel, settings.max_kernel_size)
        result = conv.run(image, kernel, req, max_stride=settings.max_stride,
                          max_pool_size=settings.max_pool_size)
        return JSONResponse(ConvolveResponse(
            feature_map=result.feature_map.tolist(), activated=result.activated.tolist(),
            pooled=None if result.pooled is None else result.pooled.tolist(),
            shapes=result.shapes(), ranges=_ranges(result),
        ).model_dump())
    if not (ctype.startswith("multipart/form-data")
            or ctype.startswith("application/x-www-form-urlencoded")):
        raise InvalidInput("content-type", "send application/json, multipart/form-data or "
                           "application/x-www-form-urlencoded")
    lab_req, upload = await _form_request(request)
    view = build_view(lab_req, upload, settings)
    if is_htmx(request):
        return templates.TemplateResponse(request, "partials/lab_results.html",
                                          _lab_context(view, lab_req, oob=True))
    images = {p.key: [url for _, url in p.images] for p in view.panels if p.images}
    return JSONResponse(ConvolveResponse(
        shapes=view.result.shapes(), ranges=_ranges(view.result), images=images or None,
        feature_map=view.result.feature_map.tolist() if view.numeric else None,
        activated=view.result.activated.tolist() if view.numeric else None,
        pooled=(view.result.pooled.tolist() if view.numeric and view.result.pooled is not None
                else None),
    ).model_dump())


def _lab_context(view, lab_req: LabRequest, oob: bool = False) -> dict[str, Any]:
    return {
        "view": view,
        "req": lab_req,
        # Re-draw the kernel grid only when it must change, never under a typing cursor.
        "grid_oob": oob and (lab_req.kernel != "custom"
                             or len(lab_req.k) != lab_req.ksize * lab_req.ksize),
    }


@router.get("/kernel-lab", response_class=HTMLResponse, include_in_schema=False)
async def kernel_lab_page(request: Request) -> Response:
    settings = settings_of(request)
    params: dict[str, Any] = dict(request.query_params)
    params["k"] = request.query_params.getlist("k")
    params["relu"] = params.get("relu") in ("on", "true", "1")
    if "matrix" not in params:
        params["matrix"] = matrix_text(conv.as_image(LESSON_5X5))
    lab_req = validate(LabRequest, params, "query")
    context: dict[str, Any] = {"req": lab_req, "kernels": KERNELS, "samples": SAMPLES,
                               "grid_sizes": GRID_SIZES, "view": None, "errors": []}
    try:
        view = build_view(lab_req, None, settings)
        context.update(_lab_context(view, lab_req))
    except InvalidInput as exc:
        context["errors"] = describe_errors(error_items(exc))
    return templates.TemplateResponse(request, "kernel_lab.html", context)
