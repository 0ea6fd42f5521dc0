"""Thin HTTP routes: FastAPI parses, the domain computes, a template or a response model answers."""
