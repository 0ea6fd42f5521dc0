"""`uvicorn app.main:app`: the application with its settings from CNNPG_* variables.

The settings and the start-up checks (app/startup.py) come before the application is
imported: a server that cannot start says why in a second, without importing TensorFlow
first. (The application checks again as it starts, which costs nothing once migrated.)
"""

from app.startup import prepare_or_exit, settings_or_exit

PROGRAM = "uvicorn app.main:app"
settings = settings_or_exit(PROGRAM)
prepare_or_exit(settings, PROGRAM)

from app.web.application import create_app  # noqa: E402  (after the checks, on purpose)

app = create_app(settings)
