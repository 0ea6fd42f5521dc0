"""The services an application (or a worker) owns, built once from one `Settings`.

The web application keeps one `Services` on `app.state` and routes reach its parts
through FastAPI dependencies (`app/web/dependencies.py`); a worker builds the same
services from the same settings, with the function that runs a job.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.classroom.classes import Classes
from app.classroom.quotas import Quotas
from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.datasets.ingestion import DatasetUploads
from app.datasets.store import DatasetStore
from app.lab.uploads import LabUploads
from app.networks.export import Exports
from app.networks.inference import LoadedModels
from app.networks.inputs import ModelInputs
from app.networks.registry import Registry
from app.resources import MODELS_DIR
from app.storage.database import Database
from app.training.jobs import JobStore
from app.training.sweeps import SweepStore
from app.training.taskqueue import JobQueue, JobRunner
from app.training.timelapse import Timelapses


@dataclass
class Services:
    settings: Settings
    database: Database
    registry: Registry
    models: LoadedModels
    jobs: JobStore
    sweeps: SweepStore
    queue: JobQueue
    datasets: DatasetCatalog
    dataset_uploads: DatasetUploads
    timelapses: Timelapses
    exports: Exports
    classes: Classes
    lab_uploads: LabUploads
    inputs: ModelInputs
    quotas: Quotas

    @classmethod
    def build(cls, settings: Settings, runner: JobRunner | None = None) -> Services:
        database = Database(settings)
        store = DatasetStore(database)
        datasets = DatasetCatalog(settings.datasets_dir, store)
        registry = Registry(database, settings.models_dir or MODELS_DIR,
                            settings.data_dir / "model-cache", settings.model_cache_bytes)
        models = LoadedModels(registry, settings.max_loaded_models, settings.inference_threads)
        quotas = Quotas(database, settings)
        jobs = JobStore(database, settings, datasets, quotas)
        return cls(
            settings=settings,
            database=database,
            registry=registry,
            models=models,
            jobs=jobs,
            sweeps=SweepStore(database, settings, jobs),
            queue=JobQueue(settings, runner),
            datasets=datasets,
            dataset_uploads=DatasetUploads(settings, store, datasets),
            timelapses=Timelapses(database),
            exports=Exports(registry, models, datasets),
            classes=Classes(database, settings, jobs.queue),
            lab_uploads=LabUploads(settings.data_dir / "lab-uploads", settings.lab_uploads),
            inputs=ModelInputs(settings, datasets),
            quotas=quotas,
        )

    def close(self) -> None:
        self.database.dispose()
