"""The `cnn-playground` command. Options mirror the `CNNPG_*` variables."""

from __future__ import annotations

import argparse
import os
import sys


def _export(args: argparse.Namespace, names: list[str]) -> None:
    """Pass options on as CNNPG_* variables, so the app (and its workers) read one config."""
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            os.environ[f"CNNPG_{name.upper()}"] = str(value)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    _export(args, ["host", "port", "data_dir", "datasets_dir", "database_url", "redis_url",
                   "workers"])
    from app.config import get_settings

    settings = get_settings()
    uvicorn.run("app.main:app", host=settings.host, port=settings.port, reload=args.reload,
                log_level=args.log_level, proxy_headers=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnn-playground",
        description="CNN Playground: learn and demonstrate convolutional neural networks.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the web application (http://127.0.0.1:8000)")
    serve.add_argument("--host", help="address to listen on (CNNPG_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (CNNPG_PORT, default 8000)")
    serve.add_argument("--data-dir", help="database, queue and models (CNNPG_DATA_DIR)")
    serve.add_argument("--datasets-dir", help="dataset files read first (CNNPG_DATASETS_DIR)")
    serve.add_argument("--database-url", help="SQLAlchemy URL (CNNPG_DATABASE_URL)")
    serve.add_argument("--redis-url", help="Redis queue URL (CNNPG_REDIS_URL)")
    serve.add_argument("--workers", type=int, help="training worker processes (CNNPG_WORKERS)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
