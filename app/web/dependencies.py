"""What routes take from the application, as FastAPI dependencies.

The application owns one `Services` (built in its lifespan from its `Settings`); a route
declares the part it needs, e.g. `registry: RegistryDep`, and never reaches for a global.
They are `async` because they do not block: FastAPI would run plain functions in its
thread pool, a thread hop per dependency per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.classroom.classes import Classes
from app.classroom.quotas import Quotas
from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.datasets.ingestion import DatasetUploads
from app.lab.uploads import LabUploads
from app.networks.export import Exports
from app.networks.inference import LoadedModels
from app.networks.registry import Registry
from app.services import Services
from app.training.jobs import JobStore
from app.training.sweeps import SweepStore
from app.training.taskqueue import JobQueue
from app.training.timelapse import Timelapses
from app.web.live import LiveJobs
from app.web.tokens import presented_teacher_token, presented_token


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_settings(services: ServicesDep) -> Settings:
    return services.settings


async def get_registry(services: ServicesDep) -> Registry:
    return services.registry


async def get_models(services: ServicesDep) -> LoadedModels:
    return services.models


async def get_jobs(services: ServicesDep) -> JobStore:
    return services.jobs


async def get_sweeps(services: ServicesDep) -> SweepStore:
    return services.sweeps


async def get_queue(services: ServicesDep) -> JobQueue:
    return services.queue


async def get_datasets(services: ServicesDep) -> DatasetCatalog:
    return services.datasets


async def get_dataset_uploads(services: ServicesDep) -> DatasetUploads:
    return services.dataset_uploads


async def get_timelapses(services: ServicesDep) -> Timelapses:
    return services.timelapses


async def get_exports(services: ServicesDep) -> Exports:
    return services.exports


async def get_live(request: Request) -> LiveJobs:
    live: LiveJobs = request.app.state.live
    return live


async def get_classes(services: ServicesDep) -> Classes:
    return services.classes


async def get_lab_uploads(services: ServicesDep) -> LabUploads:
    return services.lab_uploads


async def get_quotas(services: ServicesDep) -> Quotas:
    return services.quotas


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ModelsDep = Annotated[LoadedModels, Depends(get_models)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
SweepsDep = Annotated[SweepStore, Depends(get_sweeps)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
DatasetsDep = Annotated[DatasetCatalog, Depends(get_datasets)]
DatasetUploadsDep = Annotated[DatasetUploads, Depends(get_dataset_uploads)]
TokenDep = Annotated[str | None, Depends(presented_token)]
TimelapsesDep = Annotated[Timelapses, Depends(get_timelapses)]
ExportsDep = Annotated[Exports, Depends(get_exports)]
LiveDep = Annotated[LiveJobs, Depends(get_live)]
ClassesDep = Annotated[Classes, Depends(get_classes)]
TeacherTokenDep = Annotated[str | None, Depends(presented_teacher_token)]
LabUploadsDep = Annotated[LabUploads, Depends(get_lab_uploads)]
QuotasDep = Annotated[Quotas, Depends(get_quotas)]
