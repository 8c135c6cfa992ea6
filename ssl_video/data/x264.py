"""libx264 settings shared by ssl_video's video writers (the built-in world, ``ssl-video data prepare``).

One thread is not enough for byte-identical output: on CPUs with AVX-512, libx264's AVX-512 code
paths (as bundled with PyAV 18) encode the same frames differently from run to run, by a few pixel
levels in up to ~7 % of the pixels of a 64 px video (measured on this project's VM: 6 encodes of one
drive gave 6 different files; with AVX-512 left out, 6 identical files and no slower). So on such
CPUs the writers name the instruction sets libx264 may use, every one the CPU has except AVX-512;
elsewhere libx264 detects them itself, as before.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

# libx264 instruction-set names (common/cpu.c) and the /proc/cpuinfo flag that says the CPU has them.
_X264_FLAGS = (("MMX2", "sse"), ("SSE", "sse"), ("SSE2", "sse2"), ("SSE3", "pni"), ("SSSE3", "ssse3"),
               ("SSE4.1", "sse4_1"), ("SSE4.2", "sse4_2"), ("LZCNT", "abm"), ("AVX", "avx"), ("FMA3", "fma"),
               ("BMI1", "bmi1"), ("BMI2", "bmi2"), ("AVX2", "avx2"))


def _cpu_flags(cpuinfo: str) -> set[str]:
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


@functools.cache
def deterministic_x264_params(cpuinfo: str | None = None) -> dict[str, str]:
    """Extra libx264 options (for ``stream.options``) that make its output depend only on its input.

    ``{"x264-params": "asm=..."}`` on an x86 CPU with AVX-512 (every instruction set the CPU has but
    that one), ``{}`` elsewhere. ``cpuinfo``: the text of ``/proc/cpuinfo`` (read when None).
    """
    if cpuinfo is None:
        if platform.machine().lower() not in ("x86_64", "amd64"):
            return {}
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: leave libx264 its own detection
            return {}
    flags = _cpu_flags(cpuinfo)
    if "avx512f" not in flags:
        return {}
    return {"x264-params": "asm=" + ",".join(name for name, flag in _X264_FLAGS if flag in flags)}
