"""Fixtures for the hub tests: a hand-built checkpoint in the checkpoint contract's format and
a real HTTP server on 127.0.0.1 that can serve, cut off, corrupt or slow down files."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest
import torch
from hub_helpers import make_checkpoint, tiny_encoder


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch):
    """Every test gets its own cache and no registry or mirror from the environment."""
    monkeypatch.setenv("SSL_VIDEO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SSL_VIDEO_WEIGHTS_REGISTRY", raising=False)
    monkeypatch.delenv("SSL_VIDEO_WEIGHTS_MIRROR", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_ckpt(tmp_path) -> tuple[Path, torch.nn.Module]:
    encoder = tiny_encoder()
    return make_checkpoint(tmp_path / "last.ckpt", encoder), encoder.eval()


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves files from `directory`; server.mode: "ok" | "drop" (half the body, then close) |
    "corrupt" (one byte flipped) | "slow" (small chunks with pauses) | "unsized" (half the body, no
    Content-Length). Counts GETs."""

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        server = self.server
        server.hits.append(self.path)
        if server.mode == "ok":
            return super().do_GET()
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            return self.send_error(404)
        body = path.read_bytes()
        self.send_response(200)
        if server.mode == "unsized":  # no Content-Length: only the file's own structure can tell it was cut
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if server.mode == "drop":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif server.mode == "corrupt":
            self.wfile.write(body[:100] + bytes([body[100] ^ 0xFF]) + body[101:])
        elif server.mode == "slow":
            step = max(1, len(body) // 10)
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
                threading.Event().wait(0.05)


@pytest.fixture
def serve():
    """serve(directory, mode="ok") -> (base URL, server); servers are shut down after the test."""
    servers = []

    def start(directory: Path, mode: str = "ok"):
        handler = functools.partial(_Handler, directory=str(directory))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.mode, server.hits = mode, []
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
