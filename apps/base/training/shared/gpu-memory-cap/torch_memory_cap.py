"""Cap this process's PyTorch GPU memory, then run the training script in this same process.

    python torch_memory_cap.py SCRIPT [ARG ...]
    torchrun --nproc-per-node=N torch_memory_cap.py SCRIPT [ARG ...]   (each worker caps itself)

Reads MLPLATFORM_GPU_MEMORY_FRACTION (a number in (0, 1]) and calls
torch.cuda.set_per_process_memory_fraction(fraction, device) for every visible CUDA device before the script
runs: PyTorch's caching allocator then fails this process with out-of-memory instead of taking the memory
its neighbours on a time-sliced GPU rely on. No PyTorch environment variable sets such a limit
(PYTORCH_CUDA_ALLOC_CONF tunes the allocator, it caps nothing), hence this launcher.
Source: PyTorch 2.5 documentation, torch.cuda.set_per_process_memory_fraction(fraction, device=None):
"Allowed memory equals total_memory * fraction"; the limit applies to the caching allocator of the calling
process only, so it must run in every process that allocates (each torchrun worker runs this file).

Delivered by the ConfigMap gpu-memory-cap (apps/base/training/shared); the rule gpu-memory-uncapped
accepts MLPLATFORM_GPU_MEMORY_FRACTION only in a container whose command runs this file.
"""

from __future__ import annotations

import os
import runpy
import sys

VARIABLE = "MLPLATFORM_GPU_MEMORY_FRACTION"
PROG = "torch_memory_cap"


class CapError(Exception):
    """The cap cannot be applied; the trainer must not start uncapped."""


def fraction_from(environ: dict[str, str]) -> float:
    raw = environ.get(VARIABLE)
    if raw is None or not raw.strip():
        raise CapError(f"{VARIABLE} is not set: refusing to train on a shared GPU without a memory cap")
    try:
        value = float(raw)
    except ValueError:
        raise CapError(f"{VARIABLE}={raw!r} is not a number") from None
    if not 0 < value <= 1:  # also rejects nan
        raise CapError(f"{VARIABLE}={raw!r} must be a fraction in (0, 1]")
    return value


def apply(fraction: float, torch) -> int:
    """Cap every visible device; returns how many. A process may use any GPU it sees, so all are capped."""
    if not torch.cuda.is_available():
        raise CapError("PyTorch sees no CUDA device, so there is nothing to cap: is this pod on a GPU node?")
    count = torch.cuda.device_count()
    for device in range(count):
        torch.cuda.set_per_process_memory_fraction(fraction, device)
    return count


def run_script(argv: list[str]) -> None:
    """Run SCRIPT as __main__ with its own argv and its directory first on sys.path, as `python SCRIPT` would."""
    script = argv[0]
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    runpy.run_path(script, run_name="__main__")


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print(f"usage: python {PROG}.py SCRIPT [ARG ...]  (with {VARIABLE} set)", file=sys.stderr)
        return 2
    try:
        fraction = fraction_from(os.environ if environ is None else environ)
        import torch  # after the argument checks: a usage error should not wait for CUDA

        count = apply(fraction, torch)
    except CapError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(f"{PROG}: PyTorch GPU memory capped at {fraction:g} of each of {count} device(s)", file=sys.stderr)
    run_script(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
