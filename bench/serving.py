"""The shipped model served by this server, by LitServe and by MLServer, in one run, with
the same client and the same images (DESIGN.md: ahead of both peers on throughput and p50).

The three servers are started together and stay idle but for their turn: the workloads
take turns in rotation (`--rounds`), so that whatever else the machine does at the time
falls on all of them alike. Each is served as its own documentation recommends for a
Keras or LiteRT model on CPU:
- this server: `cnn-playground serve` (no training worker: CNNPG_WORKERS=0);
- LitServe: a `LitAPI` (setup, decode_request, predict, encode_response) running the
  model's LiteRT flatbuffer, `LitServer(accelerator="cpu", workers_per_device=<cores>)`
  ("for CPU, set to the number of cores available");
- MLServer: a custom runtime (`MLModel` with `load` and `predict`, MLServer's own
  "custom TensorFlow model" example; there is no mlserver-tensorflow runtime) running the
  same flatbuffer, the default settings (`parallel_workers` 1), debug off.
The peers read the PNG with this project's own MNIST reading (app/networks/digits.py),
as /predict does, so every server does the same work. LitServe and MLServer are installed
by this script into their own virtual environments under the cache directory, never into
the project's.

The client is one process (asyncio, uvloop, keep-alive HTTP/1.1) holding `--connections`
connections (32), each sending the next request as soon as its answer comes: the 64 MNIST
test digits as 280×280 PNGs (`/predict` multipart; LitServe the same multipart body;
MLServer's protocol has no files, so the PNG goes base64 in a BYTES tensor), and the same
digits as the model's input tensor (28×28×1 floats in 0–1) in the Open Inference
Protocol's JSON (the same bytes to all three; this server also in the binary extension).
It prints requests per second, p50 and p99 for each, then /predict against /healthz on
this server (sequential, interleaved: the DESIGN.md budget, 2× the median) with the
server's own time from its Server-Timing header.

Run: .venv/bin/python bench/serving.py [--seconds 24] [--rounds 4] [--only ours,litserve,mlserver]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import pickle
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.digits_data import as_canvas_png, mnist_test  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cnn-playground-bench"
# python-multipart: LitServe reads uploaded files (a form) only with it.
# uvloop<0.22: with 0.22 and later, MLServer 1.7.1's inference pool workers die at start
# ("There is no current event loop in thread 'MainThread'").
PEERS = {"litserve": ["litserve==0.2.19", "python-multipart"],
         "mlserver": ["mlserver==1.7.1", "uvloop<0.22"]}
PEER_COMMON = ["ai-edge-litert==2.3.0", "numpy", "pillow", "opencv-python-headless"]
MODEL = "mnist_digits"
BOUNDARY = "benchboundary7f3a9c"

LITSERVE_SERVER = '''
import io, os, sys
import numpy as np
import litserve as ls
from PIL import Image

sys.path.insert(0, os.environ["BENCH_ROOT"])
from app.networks import digits  # the project's own MNIST reading, as /predict does


class MnistAPI(ls.LitAPI):
    def setup(self, device):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=os.environ["BENCH_TFLITE"], num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def decode_request(self, request):
        if "file" in request:  # multipart: the PNG
            img = Image.open(io.BytesIO(request["file"].file.read()))
            return digits.from_image(img)[None, :, :, None]
        tensor = request["inputs"][0]  # the Open Inference Protocol's JSON tensor
        return np.asarray(tensor["data"], np.float32).reshape(tensor["shape"])

    def predict(self, x):
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)

    def encode_response(self, output):
        p = output[0]
        return {"label": int(p.argmax()), "probabilities": p.tolist()}


if __name__ == "__main__":
    server = ls.LitServer(MnistAPI(), accelerator="cpu", workers_per_device=os.cpu_count())
    server.run(host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), log_level="warning",
               generate_client_file=False)
'''

MLSERVER_MODEL = '''
import io, os, sys
import numpy as np
from mlserver import MLModel
from mlserver.codecs import Base64Codec, NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from PIL import Image

sys.path.insert(0, os.environ["BENCH_ROOT"])
from app.networks import digits  # the project's own MNIST reading, as /predict does


class MnistModel(MLModel):
    async def load(self) -> bool:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=self.settings.parameters.uri, num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        tensor = payload.inputs[0]
        if tensor.datatype == "BYTES":  # a PNG, base64
            png = Base64Codec.decode_input(tensor)[0]
            x = digits.from_image(Image.open(io.BytesIO(png)))[None, :, :, None]
        else:
            x = NumpyCodec.decode_input(tensor).astype(np.float32)
        self.interpreter.set_tensor(self.input, x)
        self.interpreter.invoke()
        p = self.interpreter.get_tensor(self.output)
        return InferenceResponse(model_name=self.name,
                                 outputs=[NumpyCodec.encode_output("probabilities", p)])
'''


# ------------------------------------------------------------------ the requests


def multipart(png: bytes, path: str, host: str) -> bytes:
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png + f"\r\n--{BOUNDARY}--\r\n".encode()
    return request("POST", path, host, body, f"multipart/form-data; boundary={BOUNDARY}")


def request(method: str, path: str, host: str, body: bytes = b"", content_type: str = "",
            extra: str = "") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    return (head + extra + "\r\n").encode() + body


def oip_json(x: np.ndarray) -> bytes:
    return json.dumps({"inputs": [{"name": "image", "shape": [1, *x.shape], "datatype": "FP32",
                                   "data": x.ravel().tolist()}]}).encode()


def oip_binary(x: np.ndarray, path: str, host: str) -> bytes:
    raw = x.astype("<f4").tobytes()
    head = json.dumps({"inputs": [{"name": "image", "shape": [1, *x.shape], "datatype": "FP32",
                                   "parameters": {"binary_data_size": len(raw)}}]}).encode()
    return request("POST", path, host, head + raw, "application/octet-stream",
                   f"Inference-Header-Content-Length: {len(head)}\r\n")


def oip_png(png: bytes) -> bytes:
    return json.dumps({"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                                   "parameters": {"content_type": "base64"},
                                   "data": [base64.b64encode(png).decode()]}]}).encode()


def workloads(server: str, host: str, pngs: list[bytes], xs: np.ndarray) -> dict[str, list[bytes]]:
    """Each server's requests for the PNG and for the tensor (one per digit)."""
    infer = f"/v2/models/{MODEL}/infer"
    tensor = [request("POST", infer if server != "litserve" else "/predict", host, oip_json(x),
                      "application/json") for x in xs]
    if server == "ours":
        return {"PNG (/predict)": [multipart(p, "/predict", host) for p in pngs],
                "tensor (OIP JSON)": tensor,
                "tensor (OIP binary)": [oip_binary(x, infer, host) for x in xs]}
    if server == "litserve":
        return {"PNG": [multipart(p, "/predict", host) for p in pngs], "tensor (OIP JSON)": tensor}
    return {"PNG (base64 in OIP JSON)": [request("POST", infer, host, oip_png(p), "application/json")
                                         for p in pngs],
            "tensor (OIP JSON)": tensor}


# ------------------------------------------------------------------ the client


async def _answer(reader: asyncio.StreamReader, server_ms: list[float]) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    timing = lower.find(b"server-timing: app;dur=")  # this server's own time, if it says
    if timing >= 0:
        server_ms.append(float(lower[timing + 23:lower.index(b"\r\n", timing)]))
    at = lower.find(b"content-length:")
    if at >= 0:
        await reader.readexactly(int(lower[at + 15:lower.index(b"\r\n", at)]))
    elif b"chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _load(host: str, port: int, requests: list[bytes], connections: int, warmup: float,
                seconds: float) -> dict:
    start = time.perf_counter()
    begin, end = start + warmup, start + warmup + seconds
    latencies: list[float] = []
    server_ms: list[float] = []
    errors = [0]

    async def connection(k: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = k
        while (now := time.perf_counter()) < end:
            writer.write(requests[i % len(requests)])
            status = await _answer(reader, server_ms)
            done = time.perf_counter()
            if now >= begin:
                latencies.append(done - now)
                errors[0] += status != 200
            i += connections
        writer.close()

    await asyncio.gather(*(connection(k) for k in range(connections)))
    return {"latencies": latencies, "errors": errors[0], "seconds": seconds, "server_ms": server_ms}


def client_main(spec_file: str) -> None:
    """The client process: its requests and settings in a pickle, its results on stdout."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    spec = pickle.loads(Path(spec_file).read_bytes())
    print(json.dumps(asyncio.run(_load(**spec))))


def load(port: int, requests: list[bytes], connections: int, warmup: float, seconds: float,
         work: Path) -> dict:
    """One client run (its own process): every latency, this server's own times, errors."""
    spec = work / "client.pickle"
    spec.write_bytes(pickle.dumps({"host": "127.0.0.1", "port": port, "requests": requests,
                                   "connections": connections, "warmup": warmup,
                                   "seconds": seconds}))
    out = subprocess.run([sys.executable, __file__, "--client", str(spec)], capture_output=True,
                         text=True, check=True, timeout=warmup + seconds + 120)
    return json.loads(out.stdout)


def summary(runs: list[dict]) -> dict:
    """The runs of one workload (one per round) taken together."""
    lat = np.concatenate([r["latencies"] for r in runs]) * 1e3
    served = np.concatenate([r["server_ms"] for r in runs])
    seconds = sum(r["seconds"] for r in runs)
    return {"rps": len(lat) / seconds, "p50": float(np.percentile(lat, 50)),
            "p99": float(np.percentile(lat, 99)), "errors": sum(r["errors"] for r in runs),
            "n": len(lat),
            "server_p50": float(np.percentile(served, 50)) if len(served) else None,
            "server_p99": float(np.percentile(served, 99)) if len(served) else None}


# ------------------------------------------------------------------ the servers


def ensure_tflite(path: Path) -> None:
    """The shipped model's LiteRT flatbuffer, converted as this server converts it."""
    if path.exists():
        return
    code = ("import sys, keras; from app.networks.litert import tflite_flatbuffer; "
            "m = keras.saving.load_model(sys.argv[1], safe_mode=True); "
            "open(sys.argv[2], 'wb').write(tflite_flatbuffer(m))")
    subprocess.run([sys.executable, "-c", code, str(ROOT / "models" / f"{MODEL}.keras"), str(path)],
                   cwd=ROOT, check=True, capture_output=True)


def peer_python(name: str) -> Path:
    """The peer's own virtual environment, made (and its packages installed) once."""
    env = CACHE / f"{name}-venv"
    python = env / "bin" / "python"
    marker = env / ".installed"
    wanted = " ".join(PEERS[name] + PEER_COMMON)
    if not marker.exists() or marker.read_text() != wanted:
        print(f"installing {wanted} into {env} …", flush=True)
        shutil.rmtree(env, ignore_errors=True)
        venv.create(env, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PEERS[name], *PEER_COMMON],
                       check=True, stderr=subprocess.DEVNULL)
        marker.write_text(wanted)
    return python


def start(server: str, port: int, work: Path, tflite: Path) -> subprocess.Popen:
    env = {**os.environ, "BENCH_ROOT": str(ROOT), "BENCH_TFLITE": str(tflite),
           "BENCH_PORT": str(port), "OMP_NUM_THREADS": "1"}
    log = (work / f"{server}.log").open("wb")
    if server == "ours":
        env.update(CNNPG_DATA_DIR=str(work / "data"), CNNPG_WORKERS="0", CNNPG_PORT=str(port))
        command = [str(Path(sys.executable).with_name("cnn-playground")), "serve",
                   "--log-level", "warning"]
        cwd = ROOT
    elif server == "litserve":
        (work / "litserve_server.py").write_text(LITSERVE_SERVER)
        command, cwd = [str(peer_python("litserve")), "litserve_server.py"], work
    else:
        folder = work / "mlserver"
        (folder / MODEL).mkdir(parents=True, exist_ok=True)
        (folder / MODEL / "model.py").write_text(MLSERVER_MODEL)
        (folder / MODEL / "model-settings.json").write_text(json.dumps({
            "name": MODEL, "implementation": "model.MnistModel",
            "parameters": {"uri": str(tflite), "version": "1"}}))
        (folder / "settings.json").write_text(json.dumps({
            "debug": False, "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(),
            "metrics_port": free_port()}))
        mlserver = peer_python("mlserver").with_name("mlserver")
        command, cwd = [str(mlserver), "start", str(folder)], folder
    # Its own process group: LitServe and MLServer start processes of their own.
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def wait_ready(server: str, port: int, proc: subprocess.Popen, work: Path) -> None:
    path = {"ours": f"/v2/models/{MODEL}/ready", "litserve": "/health",
            "mlserver": f"/v2/models/{MODEL}/ready"}[server]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{server} exited:\n{(work / f'{server}.log').read_text()[-3000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{server} did not become ready")


def stop(proc: subprocess.Popen) -> None:
    """The server and every process it started (its process group)."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent


def healthz_ratio(port: int, png: bytes, n: int) -> str:
    """/predict against /healthz, sequential and interleaved, one keep-alive client."""
    health, pred, health_server, pred_server = [], [], [], []

    def server_ms(r: httpx.Response) -> float:
        return float(r.headers["server-timing"].split("dur=")[1])

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
        for i in range(n + 20):
            t = time.perf_counter()
            rh = c.get("/healthz").raise_for_status()
            th = time.perf_counter() - t
            t = time.perf_counter()
            rp = c.post("/predict", files={"file": ("d.png", png, "image/png")}).raise_for_status()
            tp = time.perf_counter() - t
            if i >= 20:
                health.append(th)
                pred.append(tp)
                health_server.append(server_ms(rh))
                pred_server.append(server_ms(rp))
    mh, mp = statistics.median(health) * 1e3, statistics.median(pred) * 1e3
    return (f"/healthz median {mh:.2f} ms, /predict (280×280 PNG) median {mp:.2f} ms: "
            f"**{mp / mh:.2f}×** (budget 2×); server time (Server-Timing) medians "
            f"{statistics.median(health_server):.2f} ms and {statistics.median(pred_server):.2f} ms")


# ------------------------------------------------------------------ the run


def line(server: str, what: str, r: dict) -> str:
    own = (f"  (its own time p50 {r['server_p50']:.2f} ms, p99 {r['server_p99']:.2f} ms)"
           if r["server_p50"] is not None else "")
    return (f"{server:9s} {what:26s} {r['rps']:7.1f} req/s  p50 {r['p50']:6.1f} ms  "
            f"p99 {r['p99']:7.1f} ms  errors {r['errors']}{own}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=24, help="measured per workload, in all")
    parser.add_argument("--rounds", type=int, default=4, help="the workloads take turns this "
                        "many times, so that whatever else the machine does falls on all alike")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured, before each turn")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default="ours,litserve,mlserver")
    parser.add_argument("--healthz-requests", type=int, default=300)
    args = parser.parse_args()
    if args.client:
        client_main(args.client)
        return
    x, _ = mnist_test()
    pngs = [as_canvas_png(d) for d in x[:64]]
    xs = (x[:64] / 255.0).astype(np.float32)[..., None]
    servers = args.only.split(",")
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tflite = work / f"{MODEL}.tflite"
        if servers != ["ours"]:
            ensure_tflite(tflite)
        procs: dict[str, tuple[subprocess.Popen, int]] = {}
        try:
            for server in servers:  # all up at once, idle but for their turn
                port = free_port()
                procs[server] = (start(server, port, work, tflite), port)
            for server, (proc, port) in procs.items():
                wait_ready(server, port, proc, work)
            ratio = healthz_ratio(procs["ours"][1], pngs[0], args.healthz_requests) \
                if "ours" in procs else ""
            targets = [(server, what, port, reqs) for server, (_, port) in procs.items()
                       for what, reqs in workloads(server, f"127.0.0.1:{port}", pngs, xs).items()]
            runs: dict[tuple[str, str], list[dict]] = {(s, w): [] for s, w, _, _ in targets}
            for turn in range(args.rounds):
                for server, what, port, reqs in targets:
                    run = load(port, reqs, args.connections, args.warmup,
                               args.seconds / args.rounds, work)
                    runs[(server, what)].append(run)
                    print(f"round {turn + 1}: " + line(server, what, summary([run])), flush=True)
        finally:
            for proc, _ in procs.values():
                stop(proc)
    print(f"\n{args.connections} connections; each workload {args.seconds:.0f} s measured, in "
          f"{args.rounds} turns taken in rotation ({args.warmup:.0f} s of warm-up before each); "
          f"{os.cpu_count()} cores, the client on the same machine; load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"{(time.monotonic() - started) / 60:.1f} min in all\n")
    names = {"ours": "CNN Playground", "litserve": "LitServe 0.2.19", "mlserver": "MLServer 1.7.1"}
    print("| server | input | requests/s | p50 | p99 | errors |\n| --- | --- | --- | --- | --- | --- |")
    for (server, what), server_runs in runs.items():
        r = summary(server_runs)
        print(f"| {names[server]} | {what} | {r['rps']:.0f} | {r['p50']:.1f} ms | {r['p99']:.1f} ms "
              f"| {r['errors']} |")
    for (server, what), server_runs in runs.items():
        r = summary(server_runs)
        if r["server_p50"] is not None:
            print(f"\n{names[server]}, {what}: its own time (Server-Timing) p50 "
                  f"{r['server_p50']:.2f} ms, p99 {r['server_p99']:.2f} ms", end="")
    if ratio:
        print(f"\n\n{ratio}")


if __name__ == "__main__":
    main()
