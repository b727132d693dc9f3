"""Cap this process's TensorFlow GPU memory, then run the training script in this same process.

    python tf_memory_cap.py SCRIPT [ARG ...]

Reads MLPLATFORM_GPU_MEMORY_LIMIT_MB (a positive integer, in MB as TensorFlow counts them) and gives every
visible GPU a single logical device with that memory limit, via
tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=MB)]).
TensorFlow then allocates at most that much on the GPU instead of reserving nearly all of it, which on a
time-sliced GPU would starve the other pods. No TensorFlow environment variable sets such a limit
(TF_FORCE_GPU_ALLOW_GROWTH only grows the allocation on demand, without bound), hence this launcher.
Source: TensorFlow 2.17 API documentation, tf.config.set_logical_device_configuration and
tf.config.LogicalDeviceConfiguration ("memory_limit: Maximum memory (in MB) to allocate on the virtual
device"); the configuration can only be set before the runtime initialises the GPUs, which is why it runs
before the training script imports anything.

Delivered by the ConfigMap gpu-memory-cap (apps/base/training/shared); the rule gpu-memory-uncapped
accepts MLPLATFORM_GPU_MEMORY_LIMIT_MB only in a container whose command runs this file.
"""

from __future__ import annotations

import os
import runpy
import sys

VARIABLE = "MLPLATFORM_GPU_MEMORY_LIMIT_MB"
PROG = "tf_memory_cap"


class CapError(Exception):
    """The cap cannot be applied; the trainer must not start uncapped."""


def limit_from(environ: dict[str, str]) -> int:
    raw = environ.get(VARIABLE)
    if raw is None or not raw.strip():
        raise CapError(f"{VARIABLE} is not set: refusing to train on a shared GPU without a memory cap")
    try:
        value = int(raw)
    except ValueError:
        raise CapError(f"{VARIABLE}={raw!r} is not a whole number of MB") from None
    if value <= 0:
        raise CapError(f"{VARIABLE}={raw!r} must be positive")
    return value


def apply(limit_mb: int, tf) -> int:
    """Limit every visible GPU; returns how many. A process may use any GPU it sees, so all are limited."""
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        raise CapError("TensorFlow sees no GPU, so there is nothing to cap: is this pod on a GPU node?")
    for gpu in gpus:
        tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=limit_mb)])
    return len(gpus)


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
        limit_mb = limit_from(os.environ if environ is None else environ)
        import tensorflow as tf  # after the argument checks: a usage error should not wait for CUDA

        count = apply(limit_mb, tf)
    except CapError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(f"{PROG}: TensorFlow GPU memory limited to {limit_mb} MB on each of {count} GPU(s)", file=sys.stderr)
    run_script(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
