"""Importing NVIDIA Warp and MuJoCo Warp (the optional `warp` extra), and picking a device."""

from __future__ import annotations

from typing import Any

from autoreward.errors import ConfigError

INSTALL_HINT = "install the optional extra: pip install -e '.[warp]' (scripts/install.sh does)"


def import_warp() -> tuple[Any, Any]:
    """`(warp, mujoco_warp)`, initialised quietly; a ConfigError names the extra to install."""
    try:
        import mujoco_warp as mjw
        import warp as wp
    except ImportError as err:
        raise ConfigError(
            f"the MuJoCo Warp backend needs the 'mujoco-warp' and 'warp-lang' packages: {err}",
            hint=INSTALL_HINT,
        ) from err
    if not getattr(import_warp, "_ready", False):
        wp.config.log_level = wp.LOG_WARNING  # no banner, no line per compiled module
        wp.init()
        import_warp._ready = True  # type: ignore[attr-defined]
    return wp, mjw


def cuda_available() -> bool:
    """True when both Warp and torch can use a CUDA device."""
    import torch

    wp, _ = import_warp()
    return bool(wp.is_cuda_available()) and torch.cuda.is_available()


def resolve_device(device: str) -> str:
    """'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when available) -> a device both libraries use."""
    import torch

    wp, _ = import_warp()
    if device == "auto":
        return "cuda:0" if cuda_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        if not wp.is_cuda_available():
            raise ConfigError(
                f"device '{device}': Warp sees no CUDA device (no NVIDIA driver or GPU here)",
                hint="use --device cpu (slow, for tests) or run on a machine with an NVIDIA GPU",
            )
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device '{device}': this torch ({torch.__version__}) is a CPU-only build",
                hint="install a CUDA build of torch (https://pytorch.org/get-started/locally/)",
            )
        return "cuda:0" if device == "cuda" else device
    raise ConfigError(f"unknown device '{device}'", hint="use cpu, cuda, cuda:N or auto")
