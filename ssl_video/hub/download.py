"""Downloads that never leave a partial or unverified file under the final name.

The file streams to a temporary name in the cache folder while its sha256 is computed;
only a complete file (length as announced, digest as expected) is renamed into place
(``ssl_video._io.atomic_path``). A ``filelock`` per target file serialises
processes downloading the same file: the second one waits, then finds the verified file.

Sources: ``https://``, ``http://``, ``file://`` and ``hf://org/repo[/path]`` which means
``{HF_ENDPOINT or https://huggingface.co}/org/repo/resolve/main/path`` (path defaults to
``model.safetensors``).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from filelock import FileLock
from safetensors import SafetensorError, safe_open
from tqdm.auto import tqdm

from ssl_video._io import atomic_path
from ssl_video.errors import UserError

log = logging.getLogger(__name__)

SCHEMES = ("https://", "http://", "file://", "hf://")
_CHUNK = 1 << 20
RETRY_HINT = "check the URL and the network (behind a proxy, set HTTPS_PROXY) and run it again; nothing was kept"


class DownloadError(UserError, RuntimeError):
    """The transfer failed or was incomplete; nothing was left under the final name. The message names the URL and
    the reason. A :class:`UserError` (so ``ssl-video`` prints one line and exits 2) and still a ``RuntimeError`` for
    callers that catch it as one."""


class ChecksumError(DownloadError):
    """The bytes do not have the expected sha256; nothing was left under the final name."""


def is_url(source: str) -> bool:
    return str(source).startswith(SCHEMES)


def resolve_url(url: str) -> str:
    """``hf://org/repo[/path]`` -> an https resolve URL; other schemes unchanged."""
    if not url.startswith("hf://"):
        if not is_url(url):
            raise UserError(f"unsupported weights source {url!r}; use one of {SCHEMES}")
        return url
    parts = url[len("hf://"):].strip("/").split("/")
    if len(parts) < 2 or not all(parts[:2]):
        raise UserError(f"hf:// source must be hf://org/repo[/file], got {url!r}")
    path = "/".join(parts[2:]) or "model.safetensors"
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{parts[0]}/{parts[1]}/resolve/main/{path}"


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, tmp: Path, *, progress: bool, timeout_s: float) -> tuple[str, int]:
    """Stream ``url`` into ``tmp`` -> (sha256, bytes). Raises DownloadError if the body is shorter than announced."""
    digest, written = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(tmp, "wb") as f:
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
            with tqdm(total=total, unit="B", unit_scale=True, desc=Path(url).name, disable=not progress) as bar:
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:  # refused, reset, IncompleteRead, timeout
        raise DownloadError(f"download of {url} failed: {e}; {RETRY_HINT}") from e
    if total is not None and written != total:
        raise DownloadError(f"download of {url} was cut off: got {written} of {total} bytes; {RETRY_HINT}")
    return digest.hexdigest(), written


def incomplete_safetensors(path: str | Path) -> str | None:
    """Why ``path`` is not a whole safetensors file (cut off, or an error page saved under its name); None if it is.
    Reads the header only: it names every tensor's byte range, so a file that does not cover them is caught."""
    try:
        with safe_open(str(path), framework="pt", device="cpu"):
            return None
    except (SafetensorError, OSError, ValueError) as e:
        return str(e)


def download(url: str, dest: str | Path, *, sha256: str | None = None, size: int | None = None,
             progress: bool = True, timeout_s: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless a file with the expected sha256 is already there (offline use).

    Without ``sha256`` an existing file is trusted as is (a warning says the source is unverified), once a
    ``.safetensors`` one is checked to be whole; a download that is not is refused before it gets its name.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    check_whole = dest.suffix == ".safetensors"
    with FileLock(str(dest) + ".lock"):
        if dest.exists():
            if (sha256_file(dest) == sha256) if sha256 else not (check_whole and incomplete_safetensors(dest)):
                log.info("using cached %s", dest)
                return dest
            log.warning("cached %s is %s; downloading it again", dest,
                        f"not the file of sha256 {sha256}" if sha256 else "not a whole safetensors file")
            dest.unlink()
        full_url = resolve_url(url)
        log.info("downloading %s -> %s", full_url, dest)
        with atomic_path(dest) as tmp:  # renamed into place only if no check below raises
            digest, written = _fetch(full_url, tmp, progress=progress, timeout_s=timeout_s)
            if size is not None and written != size:
                raise DownloadError(f"{full_url}: expected {size} bytes, got {written}; the file there is not the one "
                                    "registered: fix the entry's url or size (nothing was kept)")
            if sha256 is not None and digest != sha256:
                raise ChecksumError(f"{full_url}: sha256 {digest} does not match the expected {sha256}; file refused: "
                                    "the file there is not the one registered, fix the entry's url or sha256")
            if sha256 is None:
                if check_whole and (reason := incomplete_safetensors(tmp)):
                    raise DownloadError(f"{full_url}: not a whole safetensors file ({reason}): cut off, or an error "
                                        f"page; {RETRY_HINT}")
                log.warning("%s has no known sha256 (got %s): integrity not verified", full_url, digest)
    return dest
