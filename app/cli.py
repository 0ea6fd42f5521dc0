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

    _export(args, ["host", "port", "public_url", "data_dir", "datasets_dir", "database_url",
                   "redis_url", "workers"])
    from app.startup import prepare_or_exit, settings_or_exit

    settings = settings_or_exit()
    prepare_or_exit(settings)
    uvicorn.run("app.main:app", host=settings.host, port=settings.port, reload=args.reload,
                log_level=args.log_level, proxy_headers=True)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    _export(args, ["data_dir", "datasets_dir", "database_url", "redis_url"])
    from app.startup import prepare_or_exit, settings_or_exit
    from app.training.worker import run

    settings = settings_or_exit("cnn-playground worker")
    prepare_or_exit(settings, "cnn-playground worker")
    run(settings)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    """`db upgrade`: bring the database to this release's schema; `db current`: say where it is."""
    _export(args, ["data_dir", "database_url"])
    from app.startup import StartupError, settings_or_exit, upgrade_database
    from app.storage import migrate
    from app.storage.database import database_url

    settings = settings_or_exit("cnn-playground db")
    url = database_url(settings)
    shown = url.split("@")[-1]
    if args.action == "current":
        print(f"{shown}: revision {migrate.current(url) or 'none (empty)'}; this release's "
              f"schema is {migrate.head()}")
        return 0
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        done = upgrade_database(settings)
    except StartupError as exc:
        print(f"cnn-playground db: error: {exc}", file=sys.stderr)
        return 1
    was = done.before or "empty"
    note = " (a release 0.1 database, stamped 0001 first)" if done.stamped_release_0_1 else ""
    print(f"{shown}: {was} → {done.after}{note}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train a preset in this process, with Keras' progress bar, into the same registry."""
    _export(args, ["data_dir", "datasets_dir", "database_url"])
    from app.errors import InvalidInput
    from app.networks.presets import PRESETS, get_preset
    from app.services import Services
    from app.startup import prepare_or_exit, settings_or_exit
    from app.training import trainer
    from app.training.jobs import JobRequest, TrainingSettings, validate_request, with_seed

    preset = get_preset(args.preset)
    if preset is None:
        print(f"unknown preset {args.preset!r}; choose one of: "
              f"{', '.join(p.name for p in PRESETS)}", file=sys.stderr)
        return 2
    settings = settings_or_exit("cnn-playground train")
    overrides = {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                                   "learning_rate": args.learning_rate,
                                   "optimizer": args.optimizer,
                                   "train_samples": args.train_samples,
                                   "seed": args.seed}.items() if v is not None}
    try:
        req = JobRequest(architecture=preset.name, dataset=args.dataset or preset.dataset,
                         training=TrainingSettings(**{**preset.training, **overrides}))
        services = Services.build(settings)
        spec, _ = validate_request(req, settings, services.datasets)
    except (InvalidInput, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prepare_or_exit(settings, "cnn-playground train")
    training = with_seed(req.training)
    print(f"training {preset.name} on {req.dataset}: {training}")
    outcome = trainer.train(spec, services.datasets.load(req.dataset), training,
                            seed=training["seed"], verbose=1)
    model_id = trainer.save_to_registry(services.registry, outcome, spec, training,
                                        name=args.name or preset.name)
    services.close()
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
    serve.add_argument("--public-url", help="the address students' devices reach this server "
                       "by, for shared links and QR codes (CNNPG_PUBLIC_URL)")
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
    train.add_argument("--dataset", help="a dataset id (mnist, fashion_mnist, cifar10, or an uploaded one's)")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--optimizer")
    train.add_argument("--train-samples", type=int, help="use only the first N training images")
    train.add_argument("--seed", type=int, help="a non-negative integer: the same seed gives the "
                       "same model (default: a random one, printed)")
    train.add_argument("--name", help="the model's name in the registry")
    for opt in ("data-dir", "datasets-dir", "database-url"):
        train.add_argument(f"--{opt}", help=f"CNNPG_{opt.upper().replace('-', '_')}")
    train.set_defaults(func=cmd_train)

    db = sub.add_parser("db", help="the database's schema: upgrade it to this release, or show it")
    db.add_argument("action", choices=["upgrade", "current"])
    for opt in ("data-dir", "database-url"):
        db.add_argument(f"--{opt}", help=f"CNNPG_{opt.upper().replace('-', '_')}")
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
