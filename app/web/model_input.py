"""The model's input as requests send it: the JSON input object (`{"pixels": …}`,
`{"image": "data:…"}` or `{"test_index": N}`, DESIGN.md) and the forms of the Draw and
Explain pages, each read into the one `ModelInput` of app/networks/inputs.py. Routes get
the preparer through `InputsDep`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic.json_schema import SkipJsonSchema

from app.imaging.decoding import DATA_URL_PATTERN
from app.networks import inputs
from app.networks.registry import MODEL_ID_PATTERN
from app.validation import NotNull
from app.web.dependencies import ServicesDep

Intensity = Annotated[float, Field(ge=0, le=255, strict=True, allow_inf_nan=False)]
PixelRows = Annotated[list[Annotated[list[Intensity], Field(min_length=1, max_length=2048)]],
                      Field(min_length=1, max_length=2048)]
PixelCube = Annotated[list[Annotated[list[Annotated[list[Intensity], Field(
    min_length=1, max_length=4)]], Field(min_length=1, max_length=2048)]],
    Field(min_length=1, max_length=2048)]


def _pixel_layout(v: Any) -> str:
    """H×W when a row holds numbers, H×W×C when it holds pixels (lists of channels)."""
    try:
        return "H×W×C" if isinstance(v[0][0], list | tuple) else "H×W"
    except (TypeError, IndexError, KeyError):
        return "H×W"


PixelArray = Annotated[Annotated[PixelRows, Tag("H×W")] | Annotated[PixelCube, Tag("H×W×C")],
                       Discriminator(_pixel_layout)]
INPUT_KEYS = ("pixels", "image", "test_index")
DataUrlText = Annotated[str, Field(pattern=DATA_URL_PATTERN, max_length=20_000_000)]
SeenText = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]*$", max_length=2_000_000)]


class ImageInput(BaseModel):
    """Exactly one of: pixels, an image as a data URL, or a test image of the model's dataset."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "oneOf": [{"required": [key]} for key in INPUT_KEYS]})

    pixels: Annotated[PixelArray | SkipJsonSchema[None], NotNull] = Field(
        None, description="H×W (or H×W×C) numbers 0–255; a drawn digit in either polarity.")
    image: Annotated[DataUrlText | SkipJsonSchema[None], NotNull] = Field(
        None, description="An image as a data URL: data:image/png;base64,…")
    test_index: Annotated[Annotated[int, Field(ge=0, le=1_000_000, strict=True)]
                          | SkipJsonSchema[None], NotNull] = Field(
        None, description="Image N of the test split of the model's dataset.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageInput:
        given = [k for k in INPUT_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"send exactly one of {', '.join(map(repr, INPUT_KEYS))}")
        return self

    def source(self) -> inputs.ModelInput:
        if self.pixels is not None:
            return inputs.Pixels(self.pixels)
        if self.test_index is not None:
            return inputs.TestImage(self.test_index)
        return inputs.DataUrl(str(self.image))


ModelQuery = Annotated[str, Query(pattern=MODEL_ID_PATTERN, max_length=64,
                                  description="A model id from GET /api/models.")]
ModelPath = Annotated[str, Path(pattern=MODEL_ID_PATTERN, max_length=64,
                                description="A model id from GET /api/models.")]


async def get_inputs(services: ServicesDep) -> inputs.ModelInputs:
    return services.inputs


InputsDep = Annotated[inputs.ModelInputs, Depends(get_inputs)]
