"""Which torch device training uses: `cpu`, `cuda`, or `auto` resolved once, before any work.

stable-baselines3 quietly falls back to the CPU when `cuda` is asked of a torch build that has
no CUDA (the CPU wheel `scripts/install.sh` installs) or sees no GPU; here that is an error
that says which build is installed and how to get one that fits, and `auto` becomes the device
that will really be used, so the run records it.
"""

from __future__ import annotations

from autoreward.errors import ConfigError

DEVICES = ("cpu", "cuda", "auto")
CUDA_WHEELS = "https://pytorch.org/get-started/locally/"


def resolve_device(requested: str, option: str = "--device") -> str:
    """`cpu` or `cuda`: the device training will run on; `cuda` only when torch can use it."""
    if requested not in DEVICES:
        raise ConfigError(f"{option} {requested!r} is not a device", hint="use cpu, cuda or auto")
    if requested == "cpu":
        return "cpu"
    problem = cuda_problem()
    if problem is None:
        return "cuda"
    if requested == "auto":
        return "cpu"
    raise ConfigError(f"{option} cuda: {problem}", hint=cuda_hint())


def cuda_problem() -> str | None:
    """Why torch cannot train on a GPU here (None when it can)."""
    import torch

    build = torch.__version__
    if torch.version.cuda is None:
        return f"the installed torch {build} is a CPU-only build (no CUDA support compiled in)"
    if not torch.cuda.is_available():
        return (
            f"torch {build} is built for CUDA {torch.version.cuda} but sees no GPU "
            "(check nvidia-smi, the driver and CUDA_VISIBLE_DEVICES)"
        )
    return None


def cuda_hint() -> str:
    import torch

    version = torch.__version__.split("+")[0]
    return (
        f"train on the CPU with --device cpu, or install a CUDA build of torch {version} into "
        f"this venv: .venv/bin/pip install torch=={version} --index-url "
        f"https://download.pytorch.org/whl/cu128 (pick the CUDA version for your driver at "
        f"{CUDA_WHEELS})"
    )
