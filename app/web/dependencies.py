"""What routes take from the application, as FastAPI dependencies.

The application owns one `Services` (built in its lifespan from its `Settings`); a route
declares the part it needs, e.g. `registry: RegistryDep`, and never reaches for a global.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.classroom.classes import Classes
from app.config import Settings
from app.datasets.catalog import DatasetCatalog
from app.lab.uploads import LabUploads
from app.networks.inference import LoadedModels
from app.networks.registry import Registry
from app.services import Services
from app.training.jobs import JobStore
from app.training.taskqueue import JobQueue
from app.web.tokens import presented_teacher_token, presented_token


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    return services.settings


def get_registry(services: ServicesDep) -> Registry:
    return services.registry


def get_models(services: ServicesDep) -> LoadedModels:
    return services.models


def get_jobs(services: ServicesDep) -> JobStore:
    return services.jobs


def get_queue(services: ServicesDep) -> JobQueue:
    return services.queue


def get_datasets(services: ServicesDep) -> DatasetCatalog:
    return services.datasets


def get_classes(services: ServicesDep) -> Classes:
    return services.classes


def get_lab_uploads(services: ServicesDep) -> LabUploads:
    return services.lab_uploads


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ModelsDep = Annotated[LoadedModels, Depends(get_models)]
JobsDep = Annotated[JobStore, Depends(get_jobs)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
DatasetsDep = Annotated[DatasetCatalog, Depends(get_datasets)]
TokenDep = Annotated[str | None, Depends(presented_token)]
ClassesDep = Annotated[Classes, Depends(get_classes)]
TeacherTokenDep = Annotated[str | None, Depends(presented_teacher_token)]
LabUploadsDep = Annotated[LabUploads, Depends(get_lab_uploads)]
