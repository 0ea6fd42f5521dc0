"""Shared fixtures.

Most tests drive one application per session in-process (FastAPI's TestClient: no socket,
no second Python, TensorFlow imported once), as datasette's tests do. Its embedded worker is
a real process, so jobs really train. The browser tests and the server-sent-events tests
reach the same application through a real uvicorn serving it on loopback from a thread.
Only the tests about the process itself (signals, crashes, start-up, upgrades, Redis and
PostgreSQL topologies, the CLI, memory under load) start `uvicorn app.main:app` as its own
process (`Server`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

T = TypeVar("T")


def _import_anyio_now() -> None:
    """Import every part of anyio now, on the main thread. anyio imports its parts on first
    use, and pytest compiles each module of a plugin's distribution (anyio ships a pytest
    plugin) through its assertion rewriter, with ast.parse. Two threads parsing at once (a
    live server's thread importing anyio's file helpers for a static file while the test's
    thread imports a helper) fail on Python 3.11: "SystemError: AST constructor recursion
    depth mismatch", a 500 for that file. Seen once in a fresh-clone run."""
    import warnings

    import anyio
    import anyio._backends._asyncio

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in dir(anyio):
            getattr(anyio, name)


_import_anyio_now()

pytest_plugins = ["tests.services"]  # the PostgreSQL and Redis fixtures

# The modules whose tests take longest (measured: tens of seconds each), in the order they
# are collected, ahead of all others. pytest-xdist's work stealing (pyproject's addopts)
# splits the collection between the workers and lets an idle worker take the queued tests
# of a busy one, from the end of its queue: a long test left at the end keeps one worker
# busy while the other has nothing left, and that difference was 40-55 s of the run.
LONGEST_FIRST = (
    "test_fuzz.py",
    "test_load.py",
    "test_browser_access.py",
    "test_topology.py",
    "test_faults.py",
    "test_real_models.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the other modules keep their order

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Two test processes share two cores, each with a worker that trains: one thread each, as
# the README advises for several workers on one machine. TensorFlow's default, a thread per
# core, cost 10-20% more CPU per training step (150 steps measured alone: 3.70 s against
# 3.21 s), and with both cores busy the second thread buys no speed.
os.environ.setdefault("CNNPG_TRAINING_THREADS", "1")
# The session application's administrator (classes are made with it).
ADMIN = "session-admin-" + secrets.token_hex(12)
FINISHED = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ a server process


class Server:
    """`uvicorn app.main:app` as its own process: for the tests about the process."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / "server.log"
        self.data_dir = data_dir
        full_env = {**os.environ, "CNNPG_DATA_DIR": str(data_dir),
                    "CNNPG_DATASETS_DIR": str(DATA), "CNNPG_WORKERS": "0",
                    **(env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=ROOT, env=full_env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        # One client for every try: httpx.get would build an SSL context each time, a
        # few tens of milliseconds of CPU, five times a second while the server starts.
        with httpx.Client(timeout=1) as probe:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
                try:
                    if probe.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# ------------------------------------------------------------------ in-process applications


class Playground:
    """One application in this process: its settings, its services and a client for it."""

    def __init__(self, settings: Any, client: Any) -> None:
        self.settings = settings
        self.client = client
        self.app = client.app
        self._live: LiveServer | None = None

    @property
    def services(self) -> Any:
        return self.app.state.services

    def new_client(self, **kwargs: Any) -> Any:
        """Another client of the same application, with its own cookies (another visitor),
        sharing the running application's event loop (never enter it with `with`: that
        would start the application's lifespan a second time)."""
        from fastapi.testclient import TestClient

        fresh = TestClient(self.app, **kwargs)
        fresh.portal = self.client.portal
        return fresh

    @property
    def live(self) -> LiveServer:
        """A real uvicorn serving this application on loopback (started on first use)."""
        if self._live is None:
            self._live = LiveServer(self.app)
        return self._live

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()


class LiveServer:
    """uvicorn on loopback, in a thread, serving an application whose lifespan is already
    running (so it shares its services): for browsers and server-sent events."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="off",
                                log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="live-server")
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """End the live job streams first (as SIGTERM does for a server process), so that
        uvicorn need not wait for them."""
        live = getattr(self.app.state, "live", None)
        if live is not None:
            live.close_from_thread()
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def playground_app(data_dir: Path, **settings: Any) -> Iterator[Playground]:
    """An application built from these settings (defaults: the tests' datasets, no workers),
    running in this process until the block ends."""
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.web.application import create_app

    values = {"data_dir": data_dir, "datasets_dir": DATA, "workers": 0, **settings}
    chosen = Settings(**values)
    with TestClient(create_app(chosen)) as client:
        pg = Playground(chosen, client)
        try:
            yield pg
        finally:
            pg.close()


@pytest.fixture(scope="session", autouse=True)
def tensorflow_threads() -> None:
    """TensorFlow's threads, as an application sets them (CNNPG_INFERENCE_THREADS), before a
    test's own Keras code starts TensorFlow's runtime, which fixes them for the process: a
    test process whose first test used Keras directly computed on two threads per op, on
    two cores that two test processes share."""
    from app.config import Settings
    from app.networks.runtime import configure_tensorflow

    configure_tensorflow(Settings.model_fields["inference_threads"].default)


@pytest.fixture(scope="session")
def playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Playground]:
    """The session's application: one worker process (which trains up to CNNPG_WORKER_JOBS
    jobs at once, in turn), the administrator token ADMIN."""
    # Tests submit as many anonymous clients: the visitors' quota is tested on its own.
    with playground_app(tmp_path_factory.mktemp("session"), workers=1, admin_token=ADMIN,
                        visitor_jobs=1000) as pg:
        yield pg


@pytest.fixture(scope="session")
def client(playground: Playground) -> Any:
    return playground.client


@pytest.fixture
def visitor(playground: Playground) -> Any:
    """A client of the session's application with no cookies yet: a new visitor."""
    return playground.new_client()


@pytest.fixture(scope="session")
def server(playground: Playground) -> LiveServer:
    return playground.live


@pytest.fixture
def make_playground(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Playground]]:
    """Another application with its own settings (limits, models, tokens), in this process."""
    stack: list[Any] = []

    def make(**settings: Any) -> Playground:
        cm = playground_app(tmp_path_factory.mktemp("app"), **settings)
        stack.append(cm)
        return cm.__enter__()

    yield make
    while stack:
        stack.pop().__exit__(None, None, None)


# ------------------------------------------------------------------ jobs


def wait_job(client: Any, job_id: str, done: Callable[[dict], bool] | tuple[str, ...] = FINISHED,
             timeout: float = 180.0, every: float = 0.1) -> dict:
    """Poll a job until `done(job)` (or until its status is one of `done`)."""
    test = done if callable(done) else (lambda job: job["status"] in done)
    deadline = time.monotonic() + timeout
    job: dict = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if test(job):
            return job
        time.sleep(every)
    raise AssertionError(f"job {job_id} still {job.get('status')} after {timeout} s: {job}")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on a thread of its own: a session's Playwright keeps an event loop
    running on the test's thread, where asyncio.run refuses to start another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def wait_running(client: Any, job_id: str, timeout: float = 180.0) -> dict:
    """A job caught training: running, with at least one batch done."""
    job = wait_job(client, job_id, lambda j: j["status"] not in ("queued", "running") or (
        j["status"] == "running" and j["progress"].get("batch", 0) > 0), timeout)
    assert job["status"] == "running", job
    return job


# ------------------------------------------------------------------ browser

CHROMIUM = "/usr/bin/chromium"


# Features Playwright disables (chromiumSwitches.ts), read from its driver so that an upgrade
# keeps its own list; this copy serves where the driver's layout has changed.
PLAYWRIGHT_DISABLED_FEATURES = [
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding",
    "ThirdPartyStoragePartitioning", "AvoidCorsURLLoaderRestartOnRedirect",
    "TcpPortRandomizationWin", "OptimizationHints", "NetworkTimeServiceQuerying", "AimEnabled",
    "PreconnectToSearch"]
# Headless Chromium 15x still builds each window's address-bar popup as a WebUI page in a
# renderer of its own, which used half a core while a test's page was open: a fifth of the
# browser tests' CPU, for a popup no test opens.
UNUSED_FEATURES = ["WebUIOmniboxPopup", "WebUIOmniboxAimPopup"]


def playwright_disabled_features() -> list[str]:
    import re

    import playwright

    lib = Path(playwright.__file__).parent / "driver" / "package" / "lib"
    for name in ("coreBundle.js", "server/chromium/chromiumSwitches.js"):
        path = lib / name
        found = re.search(r"disabledFeatures = \[(.*?)\]", path.read_text()
                          if path.is_file() else "", re.S)
        if found:
            return re.findall(r'"([A-Za-z0-9]+)"', found[1])
    return PLAYWRIGHT_DISABLED_FEATURES


def chromium_args() -> list[str]:
    """Chromium keeps only the last --disable-features it is given: this one repeats
    Playwright's list (passed before ours) and adds the features the tests do without."""
    disabled = [*playwright_disabled_features(), *UNUSED_FEATURES]
    return ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-features=" + ",".join(dict.fromkeys(disabled))]


CHROMIUM_ARGS = chromium_args()


@pytest.fixture(scope="session")
def playwright_driver():
    """One Playwright per test process, for every browser in it: starting one per module
    cost a second each time. While it runs, this thread has a running event loop (its
    dispatcher's), so a test runs its own coroutines with `run_async`, not asyncio.run."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the test command installs Debian's chromium")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=15_000)  # the first prediction may wait for the model to load
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver):
    b = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    b.page_pool = PagePool(b)
    yield b
    b.close()


VIEWPORT = (1280, 900)
# What a test may change on a page or its context that a reset cannot undo: a page whose
# test called one of these is closed, not reused.
LASTING = ("on", "once", "route", "route_from_har", "route_web_socket", "add_init_script",
           "expose_function", "expose_binding", "set_extra_http_headers", "set_viewport_size",
           "emulate_media", "set_default_timeout", "set_default_navigation_timeout",
           "add_locator_handler", "set_geolocation", "set_offline", "new_page")


class PagePool:
    """Pages kept open between tests, one browser's: opening a context and its page costs
    Chromium about 0.3 s of CPU (a renderer process), reusing one costs a navigation.

    A page goes back in the pool only as a new one would come: its cookies, permissions and
    the storage of every origin it opened (localStorage, IndexedDB, caches) cleared, on
    about:blank, with the mouse outside it. A page whose test failed (in its `with` block, or
    through the `page` fixture), showed an error, opened another page, or called anything in
    LASTING (listeners, routes, init scripts…) is closed instead."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.idle: list[Any] = []

    def take(self) -> Any:
        if self.idle:
            return self.idle.pop()
        context = self.browser.new_context(viewport={"width": VIEWPORT[0], "height": VIEWPORT[1]})
        pg = context.new_page()
        pg.origins = set()
        pg.on("framenavigated", lambda frame: pg.origins.add(origin_of(frame.url)))
        for target in (pg, context):
            for name in LASTING:
                if hasattr(target, name):
                    setattr(target, name, self._marking(pg, getattr(target, name)))
        return pg

    @staticmethod
    def _marking(pg: Any, method: Any) -> Any:
        def marked(*args: Any, **kwargs: Any) -> Any:
            pg.lasting = True
            return method(*args, **kwargs)
        return marked

    def give_back(self, pg: Any) -> None:
        context = pg.context
        if getattr(pg, "lasting", False) or len(context.pages) != 1 or self.idle:
            context.close()
            return
        try:
            session = context.new_cdp_session(pg)
            for origin in pg.origins - {"null"}:
                session.send("Storage.clearDataForOrigin",
                             {"origin": origin, "storageTypes": "all"})
            session.detach()
            pg.goto("about:blank")
            pg.mouse.move(-1, -1)
            context.clear_cookies()
            context.clear_permissions()
        except Exception:  # a page that cannot be reset is not reused
            context.close()
            return
        pg.origins.clear()
        self.idle.append(pg)


def origin_of(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") else "null"


@contextmanager
def browser_page(browser, url: str, viewport: tuple[int, int] = VIEWPORT, **options: Any):
    """A page on `url`, as a new one opens (from the browser's PagePool when it has the
    default viewport and no options); fails the test on any script error, console error or
    CSP violation, whatever it is. `viewport` and `options` (`is_mobile`, `has_touch`…)
    make it a phone's."""
    pool = getattr(browser, "page_pool", None)
    if pool is not None and viewport == VIEWPORT and not options:
        pg = pool.take()
    else:
        pool = None
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]},
                                      **options)
        pg = context.new_page()
    errors: list[str] = []

    def on_error(e: Any) -> None:
        errors.append(str(e))

    def on_console(m: Any) -> None:
        if m.type == "error":
            errors.append(m.text)

    # The class's own `on`: the pool's wrapper of `pg.on` would mark the page as lasting,
    # and these two listeners are removed before the page goes back.
    type(pg).on(pg, "pageerror", on_error)
    type(pg).on(pg, "console", on_console)
    pg.base_url = url
    pg.console_errors = errors
    try:
        yield pg
    except BaseException:
        pg.lasting = True  # the page of a failed test is closed, not reused
        raise
    finally:
        if pool is None:
            pg.context.close()
        else:
            pg.remove_listener("pageerror", on_error)
            pg.remove_listener("console", on_console)
            if errors:
                pg.lasting = True
            pool.give_back(pg)
    assert not errors, errors  # no script errors and no CSP violations


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when == "call":
        item.call_report = report  # type: ignore[attr-defined]
    return report


@pytest.fixture
def page(browser, server, request):
    with browser_page(browser, server.url) as pg:
        yield pg
        report = getattr(request.node, "call_report", None)
        if report is not None and report.failed:
            pg.lasting = True  # the page of a failed test is closed, not reused


# ------------------------------------------------------------------ accessibility

AXE = "/static/vendor/axe-core-4.14.1/axe.min.js"
AXE_FILE = ROOT / "static" / AXE.removeprefix("/static/")


def assert_accessible(pg, label: str = "", exclude: tuple[str, ...] = ()) -> None:
    """Run axe-core (vendored from npm) on the page as it is now; fail on any serious or
    critical violation, naming each rule, why it matters and the elements.

    The script is loaded by URL from the app's own static files rather than with
    add_script_tag(path=…): Playwright would inline the file, and the page's CSP
    (script-src 'self') rightly refuses inline scripts."""
    assert AXE_FILE.is_file(), AXE_FILE
    if not pg.evaluate("() => typeof window.axe !== 'undefined'"):
        pg.add_script_tag(url=AXE)
    violations = pg.evaluate(
        """async (exclude) => {
          const context = exclude.length ? {exclude: exclude.map(s => [s])} : document;
          const result = await axe.run(context, {resultTypes: ["violations"]});
          return result.violations
            .filter(v => v.impact === "serious" || v.impact === "critical")
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " — " + n.failureSummary)}));
        }""", list(exclude))
    assert not violations, f"axe on {label or pg.url}:\n" + "\n".join(
        f"{v['impact']}: {v['id']} ({v['help']})\n    " + "\n    ".join(v["nodes"])
        for v in violations)


# ------------------------------------------------------------------ a browser with a camera

FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def camera_browser(playwright_driver):
    """Chromium with its fake camera (a moving test pattern), allowed without asking."""
    b = playwright_driver.chromium.launch(executable_path=CHROMIUM,
                                          args=[*CHROMIUM_ARGS, *FAKE_CAMERA])
    yield b
    b.close()


# Counts the bytes of every request body the page sends, files included (the DevTools
# protocol does not report the bytes of a file in a request, so the page counts them).
COUNT_SENT_BYTES = """(() => {
  const sent = window.__sentBytes = [];
  function size(body) {
    if (body == null) return 0;
    if (typeof body === "string") return new TextEncoder().encode(body).length;
    if (body instanceof Blob) return body.size;
    if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) return body.byteLength;
    if (body instanceof URLSearchParams) return body.toString().length;
    if (body instanceof FormData) {
      let n = 0;
      for (const [k, v] of body) {
        n += k.length + (typeof v === "string" ? new TextEncoder().encode(v).length : v.size);
      }
      return n;
    }
    return 0;
  }
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    sent.push({url: String(input && input.url || input), bytes: size(init && init.body)});
    return fetch0.apply(this, arguments);
  };
  const send0 = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (body) {
    sent.push({url: "xhr", bytes: size(body)});
    return send0.apply(this, arguments);
  };
})();"""


def sent_bytes(pg) -> list[dict]:
    """The request bodies the page has sent since it loaded (COUNT_SENT_BYTES)."""
    return pg.evaluate("() => window.__sentBytes || []")


def wait_until(pg, expression: str, timeout: float = 30.0) -> None:
    """Poll a JavaScript expression until it is true (wait_for_function would evaluate a
    string, which the page's CSP forbids)."""
    deadline = time.monotonic() + timeout
    while not pg.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        pg.wait_for_timeout(50)
