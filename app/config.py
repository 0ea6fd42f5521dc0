"""Configuration from `CNNPG_*` environment variables (the CLI options use the same names).

One `Settings` object is made per application (or worker) and handed to everything that
needs it: nothing reads the environment behind its back.
"""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CNNPG_"
# Tokens that appear in examples and documentation: whoever read them could use them.
KNOWN_TOKENS = {"change-me-to-a-long-secret", "changeme", "change-me", "secret", "admin",
                "password"}
MIN_TOKEN_LENGTH = 24


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("cnn-playground", appauthor=False)),
        description="Where the database, queue and trained models live.",
    )
    datasets_dir: Path | None = Field(
        None, description="Dataset files read before keras.datasets is asked to download."
    )
    models_dir: Path | None = Field(
        None, description="Shipped, read-only models (*.keras with *.json); default: models/."
    )
    lessons_dir: Path | None = Field(
        None, description="A folder of the teacher's own lesson files (*.yaml), offered after "
        "the shipped lessons; a file that cannot be used is listed on /lessons with its line "
        "and the reason, and the other lessons still work.",
    )
    database_url: str | None = None
    redis_url: str | None = None
    workers: int = Field(1, ge=0, le=64)
    inference_threads: int = Field(
        1, ge=0, le=64, description="TensorFlow threads per inference op (0: TF's default). One "
        "is quickest for these small models, and lets concurrent requests use the other cores.",
    )
    training_threads: int = Field(
        0, ge=0, le=64, description="TensorFlow threads each worker trains with (0: "
        "TensorFlow's default, one per core). Several workers on one machine each take that "
        "many: cores divided by workers keeps them from contending for the cores.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_url: str | None = Field(
        None, pattern=r"^https?://[^/?#\s]+/?$", description="The address others' devices reach "
        "this server by, as scheme, host and port (e.g. http://192.168.1.20:8000): the links "
        "and QR codes shown for students to open (copy link, the class join link, the model "
        "page's snippets) use it. Unset: the address the teacher's browser reached it by.",
    )

    # Limits (DESIGN.md "Limits and bad input"); a request over one gets a 4xx naming it.
    max_request_bytes: int = Field(
        20 * 1024 * 1024, ge=1024, description="Largest request body, JSON or multipart."
    )
    max_upload_bytes: int = Field(15 * 1024 * 1024, ge=1024, description="Largest image file.")
    max_image_pixels: int = Field(
        40_000_000, ge=1, description="Largest decoded image (width × height), checked before decoding."
    )
    # The API's schema states the largest values any server accepts (the `le=` here); a
    # server may be configured lower, and then refuses more with a 422 naming the setting.
    max_kernel_size: int = Field(15, ge=1, le=15, description="Largest kernel side.")
    max_stride: int = Field(16, ge=1, le=16)
    max_pool_size: int = Field(16, ge=1, le=16)
    max_layers: int = Field(50, ge=1, le=50, description="Most layers in an architecture.")
    max_params: int = Field(
        6_000_000, ge=1, description="Most parameters in a model (built or uploaded): "
        "EfficientNetV2B0 at 96×96 has 5.93 million, DenseNet121 7.05 million.")
    max_epochs: int = Field(50, ge=1, le=50, description="Most epochs a job may train.")
    max_train_samples: int = Field(60_000, ge=10, le=60_000,
                                   description="Most training images a job uses.")
    max_queued_jobs: int = Field(50, ge=1, description="Jobs waiting at once; more get a 429.")
    max_queued_per_owner: int = Field(3, ge=1, description="Jobs one client may have waiting.")
    max_json_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest JSON request body (413 over it)."
    )
    max_loaded_models: int = Field(
        8, ge=1, le=1000, description="Models kept loaded in memory; the least recently used "
        "one is dropped when another is needed.",
    )
    model_cache_bytes: int = Field(
        512 * 1024 * 1024, ge=1024 * 1024, description="Disk space for trained models copied "
        "out of the database; the least recently used files go first.",
    )
    admin_token: str | None = Field(
        None, description="Lets its bearer cancel any job and delete any model.",
    )
    heartbeat_timeout: float = Field(
        20.0, ge=2, description="Seconds without a heartbeat before a running job is failed."
    )
    # Class scale (app/training/scheduler.py, app/classroom/quotas.py).
    worker_jobs: int = Field(
        40, ge=1, le=1000, description="Jobs one worker process trains at once, in turn (a "
        "few batches each); more wait in the queue.")
    time_slice: float = Field(
        0.25, ge=0.01, le=60, description="Seconds of training a job gets per turn when a "
        "worker trains several in turn.")
    visitor_jobs: int = Field(
        4, ge=0, description="Jobs visitors (everyone not in an open class, nor its teacher, "
        "nor the administrator) may have waiting or training, all of them together; 0: only "
        "class members and the administrator may train.")
    visitor_storage_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Models and datasets all visitors together may "
        "keep stored.")
    member_storage_bytes: int = Field(
        128 * 1024 * 1024, ge=0, description="Models and datasets each class member (and "
        "teacher) may keep stored.")
    storage_bytes: int = Field(
        8 * 1024 * 1024 * 1024, ge=0, description="Models and datasets the server keeps in "
        "all (shipped models not counted).")
    lab_max_side: int = Field(
        1024, ge=16, description="Uploads are scaled down to this side before filtering."
    )
    numeric_max_side: int = Field(
        16, ge=3, le=32, description="Inputs this small are shown as numbers in the Kernel Lab."
    )

    # Datasets uploaded as a zip of class folders (or captured from a webcam).
    max_dataset_zip_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="Largest dataset zip upload (413 over it)."
    )
    max_dataset_expanded_bytes: int = Field(
        1024 * 1024 * 1024, ge=1024, description="Largest total size of a dataset zip's members "
        "once expanded: checked from the zip's directory before expanding, and again while "
        "reading (a zip bomb is refused, 413).",
    )
    max_dataset_images: int = Field(10_000, ge=2, description="Most images in one dataset (422).")
    max_dataset_classes: int = Field(100, ge=2, description="Most classes in one dataset (422).")
    # Training you can watch, replay and compare (issue 10).
    max_compare_jobs: int = Field(
        8, ge=2, le=64, description="Most jobs one comparison shows side by side.")
    max_sweep_jobs: int = Field(
        12, ge=1, le=64, description="Most runs (jobs) one hyperparameter sweep's grid may "
        "make (422 over it).")
    live_interval: float = Field(
        0.5, ge=0.1, le=10, description="Seconds between reads of a watched job for its live "
        "pages (one read per job, however many pages watch it).")
    # Models people upload (POST /api/models) and explanations (app/networks/uploads.py).
    max_model_upload_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Largest uploaded .keras file (413 over it): "
        "EfficientNetV2B0 at 96×96 is 25 MB."
    )
    max_model_expanded_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="Most bytes an uploaded .keras archive may "
        "expand to, all members together (checked before anything is extracted).",
    )
    max_upload_layers: int = Field(
        500, ge=1, le=10_000, description="Most layers and operations in an uploaded model "
        "(NASNetMobile has 771); the Builder's own limit is CNNPG_MAX_LAYERS.",
    )
    max_model_input_side: int = Field(
        256, ge=8, le=4096, description="Largest height or width of an uploaded model's input."
    )
    max_model_classes: int = Field(
        1000, ge=2, le=100_000, description="Most classes an uploaded model may output."
    )
    # Classes (app/classroom/classes.py) and the Kernel Lab's shared uploads.
    max_class_size: int = Field(60, ge=1, le=10_000, description="Most learners in one class.")
    max_nickname_length: int = Field(24, ge=2, le=32, description="Longest nickname.")
    class_days: float = Field(30, gt=0, le=3650, description="Days a class code stays open "
                              "for joining after it is made.")
    lab_uploads: int = Field(64, ge=1, le=10_000, description="Uploaded Kernel Lab photos "
                             "kept for links; the least recently used goes first.")

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else None

    @field_validator("admin_token")
    @classmethod
    def _strong_token(cls, v: str | None) -> str | None:
        """A guessable administrator token would let anyone delete every model."""
        if v is None:
            return v
        if v.strip().lower() in KNOWN_TOKENS or "change-me" in v.lower():
            raise ValueError("is a placeholder from the documentation; anyone who read it could "
                             "use it. Generate one: openssl rand -hex 24")
        if len(v) < MIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters (it has {len(v)}). "
                             "Generate one: openssl rand -hex 24")
        if len(set(v)) < 8:
            raise ValueError("has too few distinct characters to be a secret. Generate one: "
                             "openssl rand -hex 24")
        return v

    def as_environment(self) -> dict[str, str]:
        """These settings as CNNPG_* variables, for a worker process that must share them."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is not None:
                env[f"{ENV_PREFIX}{name.upper()}"] = str(value)
        return env


class SettingsError(ValueError):
    """A CNNPG_* variable with a value that cannot be used; the message names it."""


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and overrides), with one readable line per bad value."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                 for e in exc.errors(include_url=False)]
        raise SettingsError("; ".join(lines)) from None
