"""Write a small database with release 0.1 of CNN Playground (commit 0fc62c3): real jobs
trained by its worker, through its HTTP API. Run from a checkout of that release:

    python make_release_db.py OUT_DIR [DATABASE_URL]
"""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import httpx

ROOT = Path.cwd()
out = Path(sys.argv[1]).resolve(); out.mkdir(parents=True, exist_ok=True)
env = {**os.environ, "CNNPG_DATA_DIR": str(out / "data"), "CNNPG_WORKERS": "1",
       "CNNPG_DATASETS_DIR": str(ROOT / "tests" / "data")}
if len(sys.argv) > 2:
    env["CNNPG_DATABASE_URL"] = sys.argv[2]
port = 18765
url = f"http://127.0.0.1:{port}"
proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
                        cwd=ROOT, env=env, stdout=open(out / "server.log", "wb"), stderr=subprocess.STDOUT)
for _ in range(300):
    try:
        if httpx.get(url + "/healthz").status_code == 200: break
    except httpx.HTTPError: time.sleep(0.2)
c = httpx.Client(base_url=url, timeout=60)
def tiny(name, shape):
    return {"name": name, "input_shape": shape, "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
        {"type": "MaxPooling2D", "pool_size": 2}, {"type": "Flatten"},
        {"type": "Dense", "units": 10, "activation": "softmax"}]}
def submit(body, token=None):
    r = c.post("/api/jobs", json=body, headers={"X-Owner-Token": token} if token else {})
    r.raise_for_status()
    return r.json()["id"], r.headers["x-owner-token"]
def wait(job, states=("succeeded", "failed", "cancelled"), t=300):
    end = time.time() + t
    while time.time() < end:
        j = c.get(f"/api/jobs/{job}").json()
        if j["status"] in states: return j
        time.sleep(0.3)
    raise SystemExit(f"job {job} stuck: {j}")
a, tok = submit({"architecture": tiny("digits_tiny", [28, 28, 1]), "dataset": "mnist", "name": "digits-tiny",
                 "training": {"optimizer": "adam", "learning_rate": 0.003, "batch_size": 32, "epochs": 3,
                              "validation_split": 0.1, "train_samples": 1500}})
b, _ = submit({"architecture": tiny("cifar_tiny", [32, 32, 3]), "dataset": "cifar10", "name": "cifar-tiny",
               "training": {"optimizer": "adam", "learning_rate": 0.003, "batch_size": 32, "epochs": 2,
                            "validation_split": 0.0, "train_samples": 400}}, tok)
cq, _ = submit({"architecture": "mnist_book", "dataset": "mnist", "name": "cancelled-in-queue",
                "training": {"epochs": 1, "train_samples": 100}}, tok)
c.post(f"/api/jobs/{cq}/cancel", headers={"X-Owner-Token": tok}).raise_for_status()
print(wait(a)["status"], wait(b)["status"])
# A job whose worker is killed mid-training: failed, with the reason.
d, _ = submit({"architecture": tiny("killed", [28, 28, 1]), "dataset": "mnist", "name": "worker-killed",
               "training": {"epochs": 30, "train_samples": 3000, "batch_size": 16}}, tok)
wait(d, ("running",))
while not c.get(f"/api/jobs/{d}").json()["progress"].get("batch"): time.sleep(0.2)
pids = subprocess.run(["pgrep", "-f", "app.cli worker"], capture_output=True, text=True).stdout.split()
for p in pids: os.kill(int(p), signal.SIGKILL)
print(wait(d)["status"])
jobs = c.get("/api/jobs").json(); models = c.get("/api/models").json()
(out / "expected.json").write_text(json.dumps({"owner_token": tok, "jobs": jobs, "models": models}, indent=1))
proc.terminate(); proc.wait(30)
print("done", [j["status"] for j in jobs], [m["id"] for m in models])
