"""The web layer: the FastAPI application, its routes, templates and error mapping."""
