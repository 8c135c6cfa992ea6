"""Tiny public video models saved the way their hubs store them, and a Hugging Face Hub on 127.0.0.1.

``save_tiny_hf`` builds a transformers model from a tiny config with random weights and writes it with
``save_pretrained`` (config.json + model.safetensors) next to its video processor's config. ``serve_hub``
answers what ``huggingface_hub.snapshot_download`` asks for: ``/api/models/{repo}/revision/{rev}`` (the
commit), ``/api/models/{repo}/tree/{commit}`` (the file list) and ``/{repo}/resolve/{commit}/{file}``.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import torch

# Tiny configs: 4 frames of 32 x 32, 8 x 8 patches, 2 layers of width 48.
TINY = {
    "videomae": ("VideoMAEConfig", "VideoMAEModel", "VideoMAEVideoProcessor",
                 dict(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=48, num_hidden_layers=2,
                      num_attention_heads=3, intermediate_size=96)),
    "vjepa2": ("VJEPA2Config", "VJEPA2Model", "VJEPA2VideoProcessor",
               dict(crop_size=32, patch_size=8, frames_per_clip=4, tubelet_size=2, hidden_size=48, num_hidden_layers=2,
                    num_attention_heads=3, pred_hidden_size=24, pred_num_attention_heads=2, pred_num_hidden_layers=1,
                    num_pooler_layers=1)),
    "timesformer": ("TimesformerConfig", "TimesformerModel", "TimesformerVideoProcessor",
                    dict(image_size=32, patch_size=8, num_frames=4, hidden_size=48, num_hidden_layers=2,
                         num_attention_heads=3, intermediate_size=96)),
}
MEAN, STD = [0.45, 0.4, 0.35], [0.2, 0.25, 0.3]  # not ImageNet's, so the test sees they were read


def save_tiny_hf(kind: str, folder: Path, *, processor: bool = True, seed: int = 0, **overrides) -> torch.nn.Module:
    """-> the model (eval mode), saved to ``folder`` by save_pretrained, with its processor config if asked."""
    import transformers

    config_cls, model_cls, processor_cls, args = TINY[kind]
    torch.manual_seed(seed)
    model = getattr(transformers, model_cls)(getattr(transformers, config_cls)(**{**args, **overrides})).eval()
    model.save_pretrained(folder)
    if processor:  # transformers < 4.54 has image processors only for VideoMAE and TimeSformer
        size = args.get("image_size", args.get("crop_size"))
        cls = getattr(transformers, processor_cls, None) or transformers.VideoMAEImageProcessor
        cls(image_mean=MEAN, image_std=STD, size={"shortest_edge": size},
            crop_size={"height": size, "width": size}).save_pretrained(folder)
    return model


class _Hub(http.server.BaseHTTPRequestHandler):
    """The three Hub endpoints snapshot_download uses, for every file under ``server.root``."""

    def log_message(self, *args):
        pass

    def _send(self, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(200)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        server, path = self.server, urlparse(self.path).path
        server.hits.append(path)
        files = {p.relative_to(server.root).as_posix(): p for p in sorted(server.root.rglob("*")) if p.is_file()}
        if path.startswith(f"/api/models/{server.repo}/tree/"):
            tree = [{"type": "file", "path": k, "size": p.stat().st_size,
                     "oid": hashlib.sha1(p.read_bytes()).hexdigest()} for k, p in files.items()]
            return self._send(json.dumps(tree).encode(), {"Content-Type": "application/json"})
        if path.startswith(f"/api/models/{server.repo}/revision/"):
            info = {"id": server.repo, "sha": server.commit, "siblings": [{"rfilename": k} for k in files]}
            return self._send(json.dumps(info).encode(), {"Content-Type": "application/json"})
        match = re.fullmatch(f"/{server.repo}/resolve/[^/]+/(.+)", path)
        if match is None or match.group(1) not in files:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = files[match.group(1)].read_bytes()
        self._send(body, {"X-Repo-Commit": server.commit, "ETag": f'"{hashlib.sha256(body).hexdigest()}"'})


def serve_hub(root: Path, repo: str) -> tuple[str, http.server.ThreadingHTTPServer]:
    """Serve ``root`` as Hub repository ``repo`` on 127.0.0.1 -> (endpoint URL, server); shut it down after."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    server.root, server.repo, server.commit, server.hits = Path(root), repo, "5" * 40, []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server


def tiny_mvit(v2: bool = True) -> torch.nn.Module:
    """An MViT (v2 layout: relative positions, pooling residual) on 4 x 32 x 32 clips, 3 blocks, one pooling stage."""
    from torchvision.models.video.mvit import MSBlockConfig, MViT

    torch.manual_seed(0)
    blocks = [MSBlockConfig(1, 16, 16, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 2, 2]),
              MSBlockConfig(2, 16, 32, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 1, 1]),
              MSBlockConfig(2, 32, 32, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 1, 1])]
    return MViT(spatial_size=(32, 32), temporal_size=4, block_setting=blocks, residual_pool=v2,
                residual_with_cls_embed=not v2, rel_pos_embed=v2, proj_after_attn=v2, num_classes=7).eval()
