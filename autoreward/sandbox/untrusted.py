"""Reading what a worker wrote: everything is untrusted data.

A worker that ran reward code may have had unrestricted Python, so its files can be huge,
symlinks to elsewhere, malformed, or full of terminal escape sequences and rich markup. The
parent reads them only through these functions: regular files opened without following
links, size-capped, JSON validated against a model by the caller, `.npz` without pickles,
and text stripped of control characters and cut to a length before it is stored or shown.

Every string that came from a worker is an `UntrustedText` (the `UntrustedStr` field type
makes one): control characters and terminal escapes are already gone, and each place that
shows it escapes the rest: rich renders it as plain `Text` (never markup; `.markup` for an
f-string that is printed as markup), HTML templates autoescape it (it never claims to be
safe HTML), and plots take `.plot` (mathtext `$` escaped). Numbers from a worker go through
the `Duration`/`Rate`/`Count` field types (finite, non-negative, plausible) before shown.
"""

from __future__ import annotations

import errno
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from rich.markup import escape as escape_markup
from rich.text import Text

from autoreward.sandbox.safepath import UnsafePathError, read_beneath

MAX_JSON_BYTES = 32 * 1024 * 1024
MAX_NPZ_BYTES = 512 * 1024 * 1024
MAX_MESSAGE_CHARS = 2000
"""A reason or message copied into a result: longer ones are cut (the rest is in the log)."""

MAX_COMPONENTS = 64
"""Most reward components a reward may return (`check` refuses more, training keeps these)."""
MAX_COMPONENT_NAME_CHARS = 80
"""Longest component name (`check` refuses longer ones)."""

_CONTROL = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]"  # CSI sequences (cursor moves, clear screen, colours)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC sequences (window titles, hyperlinks)
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # any other control character but tab and newline
)

M = TypeVar("M", bound=BaseModel)


class UntrustedText(str):
    """Text a worker produced, already cleaned (`untrusted()` makes one). `console.print`
    renders it as plain text; `.text` is a rich `Text` for table cells, `.markup` it escaped
    for a markup string, `.plot` for a matplotlib label; HTML templates escape it like any
    string (it is never marked safe)."""

    __slots__ = ()

    def __rich__(self) -> Text:
        return Text(str(self))

    @property
    def text(self) -> Text:
        """As a rich `Text` (table cells: rich measures plain `str` cells as markup)."""
        return Text(str(self))

    @property
    def markup(self) -> str:
        return escape_markup(str(self))

    @property
    def plot(self) -> str:
        return str(self).replace("$", r"\$")


def untrusted(text: object, limit: int = MAX_MESSAGE_CHARS) -> UntrustedText:
    """`text` cleaned (`clean_text`) as an `UntrustedText`."""
    return UntrustedText(clean_text(text, limit))


def plot_text(text: object, limit: int = MAX_COMPONENT_NAME_CHARS) -> str:
    """A label for matplotlib: cleaned, cut, and with `$` escaped (no mathtext is parsed:
    a name like `$\\frac{$` would otherwise stop the whole figure from rendering)."""
    return untrusted(text, limit).plot


def _clean(value: str) -> UntrustedText:
    return untrusted(value)


UntrustedStr = Annotated[str, AfterValidator(_clean)]
"""A string field of a model the parent fills from what a worker wrote: an `UntrustedText`
(control characters and terminal escapes stripped, cut to `MAX_MESSAGE_CHARS`)."""

Duration = Annotated[float, Field(ge=0.0, le=1e7, allow_inf_nan=False)]
"""Seconds a worker reports: finite, non-negative, under four months."""
Rate = Annotated[float, Field(ge=0.0, le=1e9, allow_inf_nan=False)]
"""A per-second rate a worker reports (steps/s): finite, non-negative, below 1e9."""
Count = Annotated[int, Field(ge=0, le=10**12)]
"""A count a worker reports (steps, episodes): non-negative and plausible."""


class UntrustedDataError(ValueError):
    """A worker's file is missing, too big, not a regular file, or malformed."""


def clean_text(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` without control characters or terminal escapes, cut to `limit` characters."""
    value = _CONTROL.sub("", str(text))
    if len(value) > limit:
        cut = len(value) - limit
        value = value[:limit] + f" … [{cut} characters cut]"
    return value


def component_name_problem(name: str) -> str | None:
    """Why `name` cannot be a reward component's name (None when it can): it is shown in
    terminals, HTML and plots, and used as a key in every statistics file."""
    if not name.strip():
        return "component names must not be empty"
    if len(name) > MAX_COMPONENT_NAME_CHARS:
        return (
            f"component names must be at most {MAX_COMPONENT_NAME_CHARS} characters, got one "
            f"of {len(name)} starting {clean_text(name, 40)!r}; use a short name"
        )
    if clean_text(name) != name or not name.isprintable():
        return (
            f"component name {clean_text(name, 60)!r} holds control characters or terminal "
            "escapes; use plain printable text"
        )
    return None


def read_capped(path: str | Path, max_bytes: int, root: str | Path | None = None) -> bytes:
    """The bytes of a regular file a worker wrote, following no symlink in any component
    below `root` (a folder the parent made; default: the file's own folder) (`safepath`).
    UntrustedDataError if it is missing, not a regular file, reached through a link, or
    larger than `max_bytes`."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    try:
        rel = path.relative_to(base)
    except ValueError:
        raise UntrustedDataError(f"{path}: not inside {base}") from None
    try:
        return read_beneath(base, rel, max_bytes)
    except UnsafePathError as err:
        if err.errno == errno.EFBIG:
            raise UntrustedDataError(
                f"{path}: larger than {max_bytes // (1024 * 1024)} MiB"
            ) from None
        raise UntrustedDataError(f"{path}: {err.strerror}") from None
    except OSError as err:
        raise UntrustedDataError(f"{path}: cannot be read ({err.strerror})") from None


def read_json(
    path: str | Path, max_bytes: int = MAX_JSON_BYTES, root: str | Path | None = None
) -> Any:
    """Parsed JSON from a worker's file (see `read_capped`)."""
    data = read_capped(path, max_bytes, root)
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise UntrustedDataError(f"{path}: not valid JSON ({err})") from None


def read_model(
    path: str | Path,
    model: type[M],
    max_bytes: int = MAX_JSON_BYTES,
    root: str | Path | None = None,
) -> M:
    """A worker's JSON file validated against `model`."""
    return parse_model(read_json(path, max_bytes, root), model, str(path))


def parse_model(data: Any, model: type[M], where: str = "worker result") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UntrustedDataError(f"{where}: {loc}: {first['msg']}") from None


def load_npz(
    path: str | Path, max_bytes: int = MAX_NPZ_BYTES, root: str | Path | None = None
) -> dict[str, np.ndarray]:
    """The arrays of a worker's `.npz`, loaded without pickles (object arrays are refused)
    and with the uncompressed size capped too (no zip bombs)."""
    data = read_capped(path, max_bytes, root)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(i.file_size for i in archive.infolist()) > max_bytes:
                raise UntrustedDataError(f"{path}: expands to more than the size limit")
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: np.array(npz[name]) for name in npz.files}
    except UntrustedDataError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise UntrustedDataError(f"{path}: not a valid pickle-free .npz ({err})") from None
