"""`uvicorn app.main:app`: the application with its settings from CNNPG_* variables."""

from app.startup import settings_or_exit
from app.web.application import create_app

app = create_app(settings_or_exit("uvicorn app.main:app"))
