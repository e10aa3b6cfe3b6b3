"""Starts real `fulcrum serve` processes for the end-to-end tests."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "llama_server: needs llama.cpp's llama-server (FULCRUM_LLAMA_SERVER); scripts/test runs "
        "these last, so that the rest need not wait for its build")
BINARY = ROOT / "target" / "release" / "fulcrum"
MODEL_ID = "smollm2"
# With no policy configured, `fulcrum serve` governs with the demo enterprise; its keys are public.
API_KEY = "demo-employee-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def cached_model(env_var: str, name: str) -> str:
    """The model file named by `env_var` (set by scripts/test), else `name` in Fulcrum's cache."""
    path = os.environ.get(env_var)
    if not path:
        home = Path(os.environ.get("FULCRUM_HOME", Path.home() / ".cache" / "fulcrum"))
        path = str(home / "models" / f"{name}.gguf")
    assert Path(path).is_file(), f"model missing at {path}: run scripts/test"
    return path


def tiny_model_path() -> str:
    return cached_model("FULCRUM_TEST_MODEL", "smollm2-135m-instruct-q4_1")


def default_model() -> str:
    return cached_model("FULCRUM_DEFAULT_MODEL", "qwen2.5-coder-0.5b-instruct-q4_k_m")


def link_embedding_model(home: str):
    """Gives a server's home the cached embedding model (scripts/test fetched it), so the
    document search does not fetch it again for every test server."""
    models = Path(home) / "models"
    models.mkdir(parents=True, exist_ok=True)
    for variable in ("FULCRUM_EMBEDDING_WEIGHTS", "FULCRUM_EMBEDDING_TOKENIZER"):
        source = Path(os.environ.get(variable, ""))
        assert source.is_file(), f"{variable} is not set: run scripts/test"
        for path in (source, source.with_name(source.name + ".verified")):
            link = models / path.name
            if not link.exists():
                link.symlink_to(path)


_scratch_dirs = []


def scratch_dir(prefix: str) -> str:
    """A new directory under the system's temporary folder, removed when the test session ends
    (servers' homes hold SQLite files, logs and model links that nobody reads afterwards)."""
    path = tempfile.mkdtemp(prefix=prefix)
    _scratch_dirs.append(path)
    return path


@pytest.fixture(scope="session", autouse=True)
def remove_scratch_dirs():
    # Session-scoped and autouse, so set up first and torn down last: after every server
    # fixture has stopped its process.
    yield
    for path in _scratch_dirs:
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    """A TCP port nothing listens on now (for servers that need one given)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process the tests start (`self.proc`) and end."""

    def kill(self):
        """Ends it as a crash would (SIGKILL): no shutdown code runs."""
        self.proc.kill()
        self.proc.wait(10)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()


class Server(Process):
    """A `fulcrum serve` process on a free port; its log is kept for failure messages."""

    def __init__(self, args, env=None, wait_ready=True, home=None):
        assert BINARY.is_file(), f"{BINARY} missing: run scripts/test (it builds the release binary)"
        self.log = []
        # Each server keeps its demo data, audit log and sessions apart from the user's own
        # (models are given by path); `home` reuses another server's, as after a restart.
        self.home = home or scratch_dir("fulcrum-e2e-")
        link_embedding_model((env or {}).get("FULCRUM_HOME", self.home))
        env = {"FULCRUM_HOME": self.home, **(env or {})}
        self.proc = subprocess.Popen(
            [str(BINARY), "serve", "--port", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1", **env},
        )
        self.base_url = None
        found = threading.Event()

        def read():
            for line in self.proc.stderr:
                self.log.append(line)
                match = re.search(r"listening on (http://[0-9.:]+)", line)
                if match and not found.is_set():
                    self.base_url = match.group(1)
                    found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(30):
            self.stop()
            raise AssertionError("server did not start listening:\n" + "".join(self.log))
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited:\n" + "".join(self.log))
            try:
                if httpx.get(self.base_url + "/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("server never became ready:\n" + "".join(self.log))

    def metric(self, name: str) -> float:
        text = httpx.get(self.base_url + "/metrics").text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"metric {name} missing")



@pytest.fixture(scope="session")
def server():
    srv = Server(["--model", tiny_model_path(), "--model-id", MODEL_ID, "--context-size", "4096", "--slots", "4"])
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def exact_server():
    """One sequence and no prefix cache: every request is computed whole in an empty KV
    cache, the one state in which llama.cpp's CPU arithmetic repeats exactly. On the shared
    server a prompt's tail computed after a cached prefix, or a sequence whose cells lie beside
    other kept ones, sums in another order, and the tiny model's answers are near ties from
    their first word on ("The" -1.65 against "La" -1.78 here): CI's run saw "La femme de
    France" after earlier tests' caches where a fresh engine says Paris."""
    srv = Server(
        ["--model", tiny_model_path(), "--model-id", MODEL_ID, "--context-size", "2048", "--slots", "1"],
        env={"FULCRUM_PREFIX_CACHE": "false"},
    )
    yield srv
    srv.stop()


QWEN_ARGS = ["--model-id", "qwen", "--context-size", "8192", "--slots", "2"]


@pytest.fixture(scope="session")
def qwen_server():
    """The default model, where the quality of tool calling matters."""
    srv = Server(["--model", default_model(), *QWEN_ARGS])
    yield srv
    srv.stop()
