"""Where torch work runs: one policy for the model, the GPU similarity search, training and benchmarks.

- A named device ("cpu", "cuda", "cuda:1", ...) is used as named. Asking for CUDA when torch sees no
  CUDA GPU is an error (ConfigError: exit code 2 on the command line, HTTP 500 and /readyz's load
  error in the API), never a quiet fall-back to the CPU: a server sized for a GPU, or a training
  budget planned for one, would then get a fraction of the speed it was set up for, unnoticed.
- None ("auto", training's default) picks the GPU when torch sees one, else the CPU.

torch is imported on first use only: the CPU paths that never ask for a device don't pay for it."""

from __future__ import annotations

from snapbuy.errors import ConfigError

# What to do instead, as the command line says it; callers with their own advice pass theirs.
DEFAULT_HINT = "use --device cpu (or SNAPBUY_DEVICE=cpu)"


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def resolve_device(requested: str | None, hint: str = DEFAULT_HINT) -> str:
    """The torch device name to run on (normalised: "cuda:1", "cpu"), by the policy above; `hint`
    ends the message of the error for a CUDA GPU that is not there."""
    if requested is None:
        return "cuda" if cuda_available() else "cpu"
    import torch

    try:
        device = torch.device(requested)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {requested!r}; use cpu or cuda") from exc
    if device.type == "cuda" and not cuda_available():
        raise ConfigError(
            f"device {requested!r} requested but torch sees no CUDA GPU "
            f"(torch.cuda.is_available() is False); {hint}"
        )
    return str(device)
