"""Kernel Lab: the kernel catalog, `POST /api/convolve` (JSON, or a form with an image) and
the page with its live results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from app.config import Settings
from app.errors import InvalidInput, NotFound, TooLarge
from app.geometry import FORMULAS
from app.imaging.decoding import ImageLimits
from app.imaging.rendering import palette_hex
from app.lab import convolution as conv
from app.lab.kernels import KERNELS, KernelName
from app.lab.samples import LESSON_5X5, SAMPLES, get_sample
from app.lab.sources import matrix_text
from app.lab.state import GRID_SIZES, IMAGE_SOURCES, LabRequest
from app.lab.uploads import LabUploads, sample_png
from app.lab.view import LabView, build_view
from app.web.dependencies import LabUploadsDep, SettingsDep
from app.web.errors import error_items
from app.web.routing import FormBodyRoute, JSONBodyRoute
from app.web.schemas import BODY_ERRORS, FORM_ERRORS, responses
from app.web.templating import describe_errors, templates
from app.web.uploads import files_are_files, read_upload

api = APIRouter(tags=["kernel lab"])
api_json = APIRouter(tags=["kernel lab"], route_class=JSONBodyRoute, responses=BODY_ERRORS)
api_form = APIRouter(tags=["kernel lab"], route_class=FormBodyRoute,
                        dependencies=[Depends(files_are_files)])

Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]  # JSON false is not 0
Matrix2D = Annotated[list[Annotated[list[Number], Field(min_length=1, max_length=4096)]],
                     Field(min_length=1, max_length=4096)]
Pixel = Annotated[list[Number], Field(min_length=1, max_length=4)]
Matrix3D = Annotated[list[Annotated[list[Pixel], Field(min_length=1, max_length=4096)]],
                     Field(min_length=1, max_length=4096)]
KernelMatrix = Annotated[list[Annotated[list[Number], Field(min_length=1, max_length=15)]],
                         Field(min_length=1, max_length=15)]


class KernelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    label: str
    matrix: list[list[float]]
    description: str


class ConvolveRequest(conv.ConvolutionSettings):
    image: Matrix2D | Matrix3D = Field(
        description="Height × width (× channels) numbers; a 2-D kernel filters each channel.")
    kernel: KernelName | KernelMatrix = Field(
        description="A catalog name from GET /api/kernels, or a matrix with odd sides.")


class Range(BaseModel):
    min: float
    max: float


class ConvolveResponse(BaseModel):
    feature_map: list[Any] | None = Field(None, description="The maps as numbers: for JSON input, "
                                          "and for small form inputs shown as numbers.")
    activated: list[Any] | None = None
    pooled: list[Any] | None = None
    shapes: dict[str, list[int] | None]
    ranges: dict[str, Range | None]
    images: dict[str, list[str]] | None = Field(
        None, description="For images: PNG data URLs per stage, one per channel, on a "
        "diverging scale symmetric about zero.")


LAB_ERRORS = responses(e422="Bad input, or over a limit (CNNPG_MAX_KERNEL_SIZE, …): named "
                       "field by field")


@api.get("/api/kernels", response_model=list[KernelOut])
def list_kernels() -> list[KernelOut]:
    """The kernel catalog, each with what it finds in an image."""
    return [KernelOut.model_validate(k) for k in KERNELS]


def _ranges(result: conv.ConvolutionResult) -> dict[str, Range | None]:
    def r(x: Any) -> Range | None:
        return None if x is None else Range(min=float(x.min()), max=float(x.max()))

    return {"feature_map": r(result.feature_map), "activated": r(result.activated),
            "pooled": r(result.pooled)}


@api_json.post("/api/convolve", response_model=ConvolveResponse, responses=LAB_ERRORS)
def convolve(req: ConvolveRequest, settings: SettingsDep) -> ConvolveResponse:
    """Convolve, apply ReLU and pool, exactly as Keras `Conv2D` and its pooling layers do.

    JSON gives the maps as numbers; a multipart form (an image file or a sample, with the
    Kernel Lab's settings) gives them as images."""
    image = conv.as_image(req.image)
    if image.shape[0] * image.shape[1] > settings.max_image_pixels:
        raise TooLarge("image", f"over the limit of {settings.max_image_pixels} pixels "
                       "(CNNPG_MAX_IMAGE_PIXELS)")
    kernel = conv.resolve_kernel(req.kernel if isinstance(req.kernel, list) else str(req.kernel),
                                 settings.max_kernel_size)
    result = conv.run(image, kernel, req, max_stride=settings.max_stride,
                      max_pool_size=settings.max_pool_size)
    return ConvolveResponse(
        feature_map=result.feature_map.tolist(), activated=result.activated.tolist(),
        pooled=None if result.pooled is None else result.pooled.tolist(),
        shapes=result.shapes(), ranges=_ranges(result),
    )


async def _lab_view(form: LabRequest, file: UploadFile | None, settings: Settings,
                    uploads: LabUploads) -> LabView:
    raw = None
    if form.source == "upload":
        if file is None and not form.upload:
            raise InvalidInput("file", 'attach an image file with source "upload" (or name a '
                               "kept one with upload)")
        if file is not None:
            raw = await read_upload(file, settings.max_upload_bytes)
    return build_view(form, raw, settings, uploads)


@api_form.post("/api/convolve", response_model=ConvolveResponse,
                  responses={**LAB_ERRORS, **FORM_ERRORS})
async def convolve_form(request: Request, form: Annotated[LabRequest, Form()],
                        settings: SettingsDep, uploads: LabUploadsDep,
                        file: Annotated[UploadFile, File(
                            description='The image: with it, the source is "upload" unless '
                            'another is named.')] = None,  # type: ignore[assignment]
                        ) -> ConvolveResponse:
    if file is not None and "source" not in await request.form():
        form = form.model_copy(update={"source": "upload"})  # a file alone is the image
    if file is not None and form.source != "upload":
        # The page's form may carry a file it no longer uses; an API call means one or the other.
        raise InvalidInput("file", f'send a file only with source "upload" (the source is '
                           f'"{form.source}")')
    view = await _lab_view(form, file, settings, uploads)
    images = {p.key: [url for _, url in p.images] for p in view.panels if p.images}
    result = view.result
    return ConvolveResponse(
        shapes=result.shapes(), ranges=_ranges(result), images=images or None,
        feature_map=result.feature_map.tolist() if view.numeric else None,
        activated=result.activated.tolist() if view.numeric else None,
        pooled=(result.pooled.tolist() if view.numeric and result.pooled is not None else None),
    )


def _lab_context(view: LabView, lab_req: LabRequest, oob: bool = False) -> dict[str, Any]:
    return {
        "view": view,
        "req": lab_req,
        # Re-draw the kernel grid only when it must change, never under a typing cursor.
        "grid_oob": oob and (lab_req.kernel != "custom"
                             or len(lab_req.k) != lab_req.ksize * lab_req.ksize),
    }


@api.post("/kernel-lab/results", response_class=HTMLResponse, include_in_schema=False)
async def lab_results(request: Request, form: Annotated[LabRequest, Form()],
                      settings: SettingsDep, uploads: LabUploadsDep,
                      file: Annotated[UploadFile | None, File()] = None,
                      embed: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,40}$")] = None,
                      ) -> Response:
    """The page's live results (htmx), for every change of a setting. `embed` names a
    results block inside another page (a lesson step): no kernel grid to redraw there."""
    view = await _lab_view(form, file, settings, uploads)
    context = _lab_context(view, form, oob=embed is None)
    if embed:
        context["output_id"] = embed
    return templates.TemplateResponse(request, "partials/lab_results.html", context)


@api.get("/kernel-lab", response_class=HTMLResponse, include_in_schema=False)
def kernel_lab_page(request: Request, settings: SettingsDep, uploads: LabUploadsDep) -> Response:
    """The lab, in the state its URL holds; an invalid state opens as the nearest valid one,
    with what was changed (never an error page)."""
    lab_req, changes = LabRequest.read(request.query_params.multi_items(), (settings, uploads))
    if lab_req.source != "matrix" or not lab_req.matrix.strip():
        lab_req = lab_req.model_copy(update={"matrix": matrix_text(conv.as_image(LESSON_5X5))})
    context: dict[str, Any] = {
        "req": lab_req, "kernels": KERNELS, "samples": SAMPLES, "grid_sizes": GRID_SIZES,
        "view": None, "errors": [], "changes": changes, "settings": settings,
        "palette": palette_hex(), "defaults": LabRequest().model_dump(mode="json"),
        "formulas": FORMULAS,
        "image_sources": IMAGE_SOURCES,
    }
    if lab_req.source != "webcam":
        try:
            view = build_view(lab_req, None, settings, uploads)
            context.update(_lab_context(view, lab_req))
        except InvalidInput as exc:
            context["errors"] = describe_errors(error_items(exc.field, exc.message))
    return templates.TemplateResponse(request, "kernel_lab.html", context)


class UploadKept(BaseModel):
    id: str
    width: int
    height: int
    channels: int


@api.post("/kernel-lab/uploads", include_in_schema=False)
async def keep_upload(settings: SettingsDep, uploads: LabUploadsDep,
                      file: Annotated[UploadFile, File()]) -> Response:
    """The page sends a photo here once; later changes name it by its id. Refusals are the
    page's message (200, `errors`), as for its other requests."""
    try:
        raw = await read_upload(file, settings.max_upload_bytes)
        kept = uploads.add(raw, ImageLimits(settings.max_upload_bytes, settings.max_image_pixels),
                           settings.lab_max_side)
    except InvalidInput as exc:
        return JSONResponse({"errors": describe_errors(error_items(exc.field, exc.message))})
    return JSONResponse(UploadKept(id=kept.id, width=kept.width, height=kept.height,
                                   channels=kept.channels).model_dump())


@api.get("/kernel-lab/source.png", include_in_schema=False)
def source_image(settings: SettingsDep, uploads: LabUploadsDep,
                 source: Annotated[str, Query(max_length=40)] = "sample:cat",
                 upload: Annotated[str, Query(max_length=40)] = "") -> Response:
    """The exact pixels the lab convolves for a photo source (scaled, upright, flattened;
    L or RGB, with no colour profile), for the page to compute its maps from. The number
    of channels is in X-Channels."""
    if source == "upload":
        data = uploads.png(upload)
        if data is None:
            raise NotFound("query.upload", f"no kept upload {upload!r}")
        channels = 1 if data[25] == 0 else 3  # the PNG header's colour type: 0 is grayscale
    elif source.startswith("sample:") and get_sample(source[7:]):
        data, channels = sample_png(source[7:], settings.lab_max_side)
    else:
        raise NotFound("query.source", f"no photo source {source!r}")
    return Response(data, media_type="image/png", headers={
        "X-Channels": str(channels), "Cache-Control": "public, max-age=86400, immutable"})


router = APIRouter()
router.include_router(api)
router.include_router(api_json)
router.include_router(api_form)
