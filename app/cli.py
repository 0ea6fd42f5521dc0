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
    from app.startup import exit_on_failure

    exit_on_failure(settings)
    uvicorn.run("app.main:app", host=settings.host, port=settings.port, reload=args.reload,
                log_level=args.log_level, proxy_headers=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _export(args, ["data_dir", "datasets_dir", "database_url", "redis_url"])
    from app.config import get_settings
    from app.startup import exit_on_failure
    from app.worker import run

    exit_on_failure(get_settings(), "cnn-playground worker")
    run()
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a preset in this process, with Keras' progress bar, into the same registry."""
    _export(args, ["data_dir", "datasets_dir", "database_url"])
    from app import training
    from app.config import get_settings
    from app.errors import InvalidInput
    from app.jobs import JobRequest, TrainingSettings, validate_request
    from app.presets import get_preset

    preset = get_preset(args.preset)
    if preset is None:
        from app.presets import PRESETS

        print(f"unknown preset {args.preset!r}; choose one of: "
              f"{', '.join(p.name for p in PRESETS)}", file=sys.stderr)
        return 2
    settings = get_settings()
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                                   "learning_rate": args.learning_rate,
                                   "optimizer": args.optimizer,
                                   "train_samples": args.train_samples}.items() if v is not None}
    try:
        req = JobRequest(architecture=preset.name, dataset=args.dataset or preset.dataset,
                         training=TrainingSettings(**{**preset.training, **overrides}))
        spec, _ = validate_request(req, settings)
    except (InvalidInput, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"training {preset.name} on {req.dataset}: {req.training.model_dump()}")
    outcome = training.train(spec, req.dataset, req.training.model_dump(),
                             datasets_dir=settings.datasets_dir, verbose=1)
    model_id = training.save_to_registry(outcome, spec, req.dataset, req.training.model_dump(),
                                         name=args.name or preset.name)
    print(f"test accuracy {outcome.test_accuracy:.4f} (loss {outcome.test_loss:.4f}); "
          f"saved as model {model_id}")
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

    worker = sub.add_parser("worker", help="take training jobs from the queue (add more anywhere)")
    for opt in ("data-dir", "datasets-dir", "database-url", "redis-url"):
        worker.add_argument(f"--{opt}", help=f"CNNPG_{opt.upper().replace('-', '_')}")
    worker.set_defaults(func=cmd_worker)

    train = sub.add_parser("train", help="train a preset here, with a progress bar")
    train.add_argument("--preset", required=True, help="a preset name (GET /api/presets)")
    train.add_argument("--dataset", choices=["mnist", "fashion_mnist", "cifar10"])
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--optimizer")
    train.add_argument("--train-samples", type=int, help="use only the first N training images")
    train.add_argument("--name", help="the model's name in the registry")
    for opt in ("data-dir", "datasets-dir", "database-url"):
        train.add_argument(f"--{opt}", help=f"CNNPG_{opt.upper().replace('-', '_')}")
    train.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
