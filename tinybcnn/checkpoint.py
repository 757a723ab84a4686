"""Checkpoints: a model, its optimiser and a trainer's state in one ``.npz`` file, without pickle.

A checkpoint is an ordinary NumPy ``.npz`` archive (a zip of ``.npy`` files) holding

``param/<name>``
    every model parameter (``param/conv1.W``, ...), as a host array of its own dtype;
``opt/<key>``
    every optimiser buffer (``opt/velocity:conv1.W``, ...);
``state/<name>``
    arrays of the trainer's state (the current epoch's permutation);
``header``
    one ``uint8`` array holding UTF-8 JSON: the format name and version, a description of the
    model (variant, dropout ``p``, input shape, classes, layer names, parameter shapes and
    dtypes), of the optimiser (class, hyperparameters, iteration), the trainer's state (RNG
    states, iteration, epoch position, history) and a SHA-256 checksum.

Nothing is ever unpickled: files are read with ``np.load(path, allow_pickle=False)``, so an
object array (the only way a ``.npy`` file can carry code) is refused, not loaded. The
checksum covers every array's name, dtype, shape and bytes *and* the rest of the header, so a
flipped byte or an edited header is detected. It guards against accidents (truncated copies,
bit rot, hand edits), not against an attacker, who can recompute it.

Writes are atomic: the archive goes to a temporary file in the same directory, is flushed and
``fsync``'ed, then renamed over the final name with :func:`os.replace` (and the directory is
``fsync``'ed so the rename itself survives a power cut). A crash or ``kill -9`` at any moment
leaves either the old checkpoint or the new one, never half of one.

Every problem on reading is one :class:`CheckpointError` (a ``ValueError``) whose message
says what is wrong, e.g. ``checkpoint is for lenet-ip, this model is lenet-all``.

**Who checks what on resume.** A checkpoint is read and written by one downward path:
``runs.train_run`` calls ``Trainer.resume`` / ``Trainer.fit``, which call
:mod:`tinybcnn.training.checkpointing`, which calls this module. Each layer checks what only it
knows, all before anything is changed:

* :func:`read_checkpoint` (here): the file (a bounded regular file, no pickle, the expected
  arrays, a valid header, the checksum);
* :func:`check_compatible` (here): the model (variant, shapes, dtypes, dropout) and the
  optimiser (class, hyperparameters);
* ``TrainerState.from_checkpoint`` (:mod:`tinybcnn.training.state`): the objective's settings,
  the permutation and the position in it, the shuffle stream, the rest of the trainer's state
  (built whole, as a new object);
* ``resume`` (:mod:`tinybcnn.training.checkpointing`): nothing of its own; it runs the three
  above, then writes the model and optimiser and assigns the new state;
* ``FitRun`` (:mod:`tinybcnn.training.run`): the data size and batch size of the resumed
  ``fit`` (``TrainerState.check_same_run``);
* :mod:`tinybcnn.runs` (``_check_resumed``, ``_check_checkpoint``): the checkpoint against the
  run's ``config.json`` (model and ``p``, classes and input shape, seed, iterations done).

Saving goes down the same path: ``FitRun`` (a checkpoint due, or Ctrl-C) and ``Trainer.save``
call :func:`tinybcnn.training.checkpointing.save` (which refuses a non-finite state), which
calls :func:`save_checkpoint` here.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .backend import numpy_dtype, to_backend, to_numpy
from .files.atomic import atomic_write
from .files.jsonfile import JSONFileError, parse_json
from .files.npyfile import NpyFileError, check_npz_sizes, sniff
from .nn import Dropout, Sequential

__all__ = [
    "CheckpointError",
    "Checkpoint",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "describe_model",
    "describe_optimizer",
    "save_checkpoint",
    "read_checkpoint",
    "check_compatible",
    "load_checkpoint",
    "apply_checkpoint",
    "model_from_checkpoint",
]

FORMAT_NAME = "tinybcnn-checkpoint"
FORMAT_VERSION = 1

# Array-name prefixes inside the archive.
_PARAM, _OPT, _STATE, _HEADER = "param/", "opt/", "state/", "header"


class CheckpointError(ValueError):
    """A checkpoint cannot be read, is damaged, or does not fit the model it is loaded into."""


# ---------------------------------------------------------------------------------------
# Describing what is saved
# ---------------------------------------------------------------------------------------


def _model_name(model: Sequential) -> str:
    """``"lenet-all"`` for a LeNet built by :func:`tinybcnn.models.lenet`, else the class name."""
    variant = getattr(model, "variant", None)
    return f"lenet-{variant}" if variant else type(model).__name__.lower()


def _n_classes(model: Sequential) -> int | None:
    """Output width of the last layer with a weight matrix (``None`` if there is none)."""
    widths = [layer.params["W"].shape[-1] if layer.params["W"].ndim == 2
              else layer.params["W"].shape[0]
              for _, layer in model if "W" in layer.params]
    return int(widths[-1]) if widths else None


def describe_model(model: Sequential) -> dict[str, Any]:
    """A JSON-able description of ``model``: what a checkpoint must match to be loaded into it.

    Returns
    -------
    dict
        ``name`` (``"lenet-all"``, ...), ``variant``, ``p`` (the first dropout's drop
        probability, ``None`` without dropout), ``in_shape``, ``n_classes``, ``layers``
        (``[{"name", "type"[, "p"]}]`` in order) and ``params`` (``name -> {"shape",
        "dtype"}``).
    """
    layers = []
    for name, layer in model:
        entry: dict[str, Any] = {"name": name, "type": type(layer).__name__}
        if isinstance(layer, Dropout):
            entry["p"] = layer.p
        layers.append(entry)
    drops = [entry["p"] for entry in layers if "p" in entry]
    in_shape = getattr(model, "in_shape", None)
    return {
        "name": _model_name(model),
        "variant": getattr(model, "variant", None),
        "p": drops[0] if drops else None,
        "in_shape": list(in_shape) if in_shape is not None else None,
        "n_classes": _n_classes(model),
        "layers": layers,
        "params": {k: {"shape": list(v.shape), "dtype": str(numpy_dtype(v.dtype))}
                   for k, v in model.params.items()},
    }


def _schedule_name(schedule: Any) -> str:
    # optim.inv() documents itself as "inv(gamma=..., power=...)"; fixed() is a bare lambda.
    doc = getattr(schedule, "__doc__", None)
    if doc and doc.startswith("inv("):
        return doc
    name = getattr(schedule, "__name__", type(schedule).__name__)
    return "fixed" if name == "<lambda>" else name


def describe_optimizer(optimizer: Any) -> dict[str, Any]:
    """Class, hyperparameters, schedule and iteration of an optimiser from :mod:`tinybcnn.optim`."""
    desc: dict[str, Any] = {"class": type(optimizer).__name__,
                            "base_lr": float(optimizer.base_lr),
                            "schedule": _schedule_name(optimizer.schedule)}
    for attr in ("momentum", "beta1", "beta2", "eps"):
        if hasattr(optimizer, attr):
            desc[attr] = float(getattr(optimizer, attr))
    desc["iteration"] = int(optimizer.iteration)
    return desc


# ---------------------------------------------------------------------------------------
# Integrity: canonical JSON and the checksum
# ---------------------------------------------------------------------------------------


def _canonical_json(obj: Any) -> bytes:
    """Deterministic, strict JSON (sorted keys, no NaN/inf): the bytes the checksum covers.

    Python's ``json`` writes arbitrarily large integers exactly, so NumPy's PCG64 state
    (128-bit integers) round-trips without loss.
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False,
                      ensure_ascii=False).encode("utf-8")


def _checksum(arrays: dict[str, np.ndarray], header: dict[str, Any]) -> str:
    """SHA-256 over every array (name, dtype, shape, bytes, in name order) and the header.

    ``header`` must not contain the ``"sha256"`` entry itself.
    """
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        # name, dtype (with byte order) and shape are hashed too, so renaming an array or
        # reinterpreting its bytes is caught, not only changing them
        h.update(_canonical_json([name, a.dtype.str, list(a.shape)]) + b"\0")
        h.update(a.reshape(-1).view(np.uint8))
    h.update(_canonical_json(header))
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------


def _host_array(name: str, value: Any) -> np.ndarray:
    a = to_numpy(value)
    if a.dtype.hasobject:
        raise TypeError(f"cannot save {name!r}: object arrays would need pickle")
    return a


def save_checkpoint(path: str | os.PathLike[str], model: Sequential, optimizer: Any = None, *,
                    trainer: dict[str, Any] | None = None,
                    arrays: dict[str, Any] | None = None,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint of ``model`` (and optionally its optimiser and a trainer) atomically.

    Parameters
    ----------
    path : str or path-like
        Destination, used as given (no ``.npz`` is appended). Its directory is created.
    model : Sequential
    optimizer : SGD or Adam, optional
        Its buffers go to ``opt/<key>``, its description and iteration to the header.
    trainer : dict, optional
        JSON-able trainer state (RNG states, iteration, history, ...), stored in the header.
    arrays : dict name -> array, optional
        Extra arrays of the trainer's state, stored as ``state/<name>``.
    extra : dict, optional
        Anything else JSON-able the caller wants to keep (e.g. the CLI's arguments).

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    data = {f"{_PARAM}{k}": _host_array(k, v) for k, v in model.params.items()}
    header: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION,
                              "model": describe_model(model), "optimizer": None,
                              "trainer": trainer, "extra": extra or {}}
    if optimizer is not None:
        header["optimizer"] = describe_optimizer(optimizer)
        for k, v in optimizer.state_dict()["buffers"].items():
            data[f"{_OPT}{k}"] = _host_array(k, v)
    for k, v in (arrays or {}).items():
        data[f"{_STATE}{k}"] = _host_array(k, v)
    header["sha256"] = _checksum(data, header)
    data[_HEADER] = np.frombuffer(_canonical_json(header), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, allow_pickle=False, **data)
    return path


# ---------------------------------------------------------------------------------------
# Reading and validating
# ---------------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """The validated contents of a checkpoint file (host arrays).

    Attributes
    ----------
    path : Path
    header : dict
        The parsed JSON header (``model``, ``optimizer``, ``trainer``, ``extra``, ...).
    params : dict name -> ndarray
    optimizer_state : dict or None
        ``{"iteration", "buffers"}`` as :meth:`tinybcnn.optim.SGD.load_state_dict` takes it.
    arrays : dict name -> ndarray
        The ``state/`` arrays.
    """

    path: Path
    header: dict[str, Any]
    params: dict[str, np.ndarray]
    optimizer_state: dict[str, Any] | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def model(self) -> dict[str, Any]:
        """The model description (see :func:`describe_model`)."""
        return self.header["model"]

    @property
    def trainer(self) -> dict[str, Any] | None:
        """The trainer state saved with the checkpoint, if any."""
        return self.header.get("trainer")


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the archive, read without pickle; any failure is a CheckpointError.

    The file's kind is checked from its first bytes and every member's declared size against
    the bytes it holds *before* NumPy allocates anything (a damaged header declaring 10^11
    elements is an error message, not a ``MemoryError``).
    """
    try:  # lstat: a symlink or a FIFO planted as the checkpoint is refused, never opened
        mode = os.lstat(path).st_mode
    except OSError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    if stat.S_ISLNK(mode) or not stat.S_ISREG(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        raise CheckpointError(f"{path} is {what}, not a checkpoint this package wrote; "
                              "move it away")
    try:
        kind = sniff(path)
        if kind != "npz":
            what = {"empty": "an empty file", "npy": "a single .npy array",
                    "pickle": "a Python pickle, which is never loaded"}.get(
                        kind, "not an .npz archive: it does not start with a zip header")
            raise CheckpointError(f"{path}: not a tinybcnn checkpoint ({what})")
        check_npz_sizes(path)
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except ValueError as exc:
        if isinstance(exc, CheckpointError):
            raise
        if isinstance(exc, NpyFileError):
            raise CheckpointError(f"damaged checkpoint: {exc}") from None
        # with allow_pickle=False NumPy refuses object arrays outright
        if "pickle" in str(exc).lower():
            raise CheckpointError(f"{path}: refusing to load an object array (it would need "
                                  "pickle); a tinybcnn checkpoint holds only numeric "
                                  "arrays") from None
        raise CheckpointError(f"{path}: damaged checkpoint ({exc})") from None
    # zlib.error: a deflated member (np.savez_compressed writes them) whose data past its
    # .npy header does not inflate; check_npz_sizes reads only the headers
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, MemoryError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: "
                              f"{exc})") from None


#: The largest checkpoint header read (the trainer's history rows live there too).
_MAX_HEADER_BYTES = 64 << 20


def _parse_header(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays.pop(_HEADER, None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{path}: not a tinybcnn checkpoint (no JSON header)")
    if raw.size > _MAX_HEADER_BYTES:  # a LeNet's header is a few kilobytes
        raise CheckpointError(f"{path}: damaged checkpoint header ({raw.size:,} bytes, more "
                              f"than {_MAX_HEADER_BYTES:,})")
    try:  # bounded: '[' * 100000 is this one-line error, not a RecursionError
        header = parse_json(raw.tobytes(), "header")
    except JSONFileError as exc:
        raise CheckpointError(f"{path}: damaged checkpoint header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path}: not a tinybcnn checkpoint (format "
                              f"{header.get('format') if isinstance(header, dict) else None!r})")
    if header.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {header.get('version')!r} is "
                              f"not supported (this tinybcnn reads version {FORMAT_VERSION})")
    return header


def _verify_checksum(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    stored = header.pop("sha256", None)
    try:
        actual = _checksum(arrays, header)
    except ValueError as exc:  # NaN in an edited header, or an unhashable layout
        raise CheckpointError(f"{path}: damaged checkpoint header ({exc})") from None
    if stored != actual:
        raise CheckpointError(f"{path}: checksum mismatch: the file was modified or damaged "
                              "after it was written")
    header["sha256"] = stored


def _split(path: Path, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> Checkpoint:
    """Sort the arrays into params / optimiser buffers / state and check them against the header."""
    params = {k[len(_PARAM):]: v for k, v in arrays.items() if k.startswith(_PARAM)}
    buffers = {k[len(_OPT):]: v for k, v in arrays.items() if k.startswith(_OPT)}
    state = {k[len(_STATE):]: v for k, v in arrays.items() if k.startswith(_STATE)}
    unknown = set(arrays) - {f"{_PARAM}{k}" for k in params} - {f"{_OPT}{k}" for k in buffers} \
        - {f"{_STATE}{k}" for k in state}
    if unknown:
        raise CheckpointError(f"{path}: unexpected arrays {sorted(unknown)}")
    declared = header.get("model", {}).get("params", {})
    if set(declared) != set(params):
        raise CheckpointError(f"{path}: the header lists parameters {sorted(declared)} but the "
                              f"file holds {sorted(params)}")
    for name, a in params.items():
        spec = declared[name]
        if list(a.shape) != spec["shape"] or str(a.dtype) != spec["dtype"]:
            raise CheckpointError(f"{path}: parameter {name} is {a.dtype} {a.shape}, the header "
                                  f"says {spec['dtype']} {tuple(spec['shape'])}")
    opt = header.get("optimizer")
    opt_state = None if opt is None else {"iteration": opt["iteration"], "buffers": buffers}
    if opt is None and buffers:
        raise CheckpointError(f"{path}: optimiser buffers without an optimiser description")
    return Checkpoint(path=path, header=header, params=params, optimizer_state=opt_state,
                      arrays=state)


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint file (format, version, checksum); loads nothing into a model.

    Raises
    ------
    CheckpointError
        If the file is missing, not a tinybcnn checkpoint, of another format version,
        holds object arrays (pickle), fails its checksum, or holds NaN or infinite weights.
    """
    path = Path(path)
    arrays = _read_arrays(path)
    header = _parse_header(path, arrays)
    _verify_checksum(path, header, arrays)
    _check_header_fields(path, header)
    try:
        ckpt = _split(path, header, arrays)
    except (KeyError, TypeError, AttributeError) as exc:  # a header of the wrong structure
        raise CheckpointError(f"{path}: malformed checkpoint header ({exc!r})") from None
    _check_finite(path, ckpt.params)
    return ckpt


# The header's schema: field -> (kind, may be null). A checksum proves only that the file is as
# written; a header written by another tool (or by hand, checksum recomputed) may lack a field
# or hold "5" where 5 belongs, and the code reading it would fail far from the cause.
_MODEL_FIELDS = {"name": ("str", False), "variant": ("str", True), "p": ("num", True),
                 "in_shape": ("shape", True), "n_classes": ("int", True),
                 "layers": ("list", False), "params": ("dict", False)}
_LAYER_FIELDS = {"name": ("str", False), "type": ("str", False)}
_PARAM_FIELDS = {"shape": ("shape", False), "dtype": ("str", False)}
_OPTIMIZER_FIELDS = {"class": ("str", False), "base_lr": ("num", False),
                     "schedule": ("str", False), "iteration": ("int", False)}
_TRAINER_FIELDS = {"seed": ("int", False), "iteration": ("int", False),
                   "epochs_started": ("int", False), "position": ("sint", False),
                   "n_train": ("int", True), "batch_size": ("int", True),
                   "loss_sum": ("num", False), "loss_count": ("int", False),
                   "last_row": ("int", False), "elapsed": ("num", False),
                   "history": ("list", False), "rng": ("dict", False),
                   "objective": ("dict", False)}
_KIND_NAMES = {"str": "a string", "num": "a finite number", "int": "an integer >= 0",
               "sint": "an integer",
               "shape": "a list of integers >= 0", "list": "a list", "dict": "an object"}


def _is_kind(value: Any, kind: str) -> bool:
    if kind in ("int", "sint"):  # sint: its range is checked where the permutation is known
        return isinstance(value, int) and not isinstance(value, bool) and (
            kind == "sint" or value >= 0)
    if kind == "num":
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == "shape":
        return isinstance(value, list) and all(_is_kind(v, "int") for v in value)
    return isinstance(value, {"str": str, "list": list, "dict": dict}[kind])


def _check_fields(path: Path, where: str, value: Any,
                  fields: dict[str, tuple[str, bool]]) -> None:
    """Refuse ``value`` unless it is an object with ``fields`` of their kinds, naming the first
    field (``model.n_classes``, ``trainer.iteration``) that is missing or of another kind."""
    if not isinstance(value, dict):
        raise CheckpointError(f"{path}: checkpoint header field {where} must be an object, got "
                              f"{value!r:.60}")
    for name, (kind, nullable) in fields.items():
        if name not in value:
            raise CheckpointError(f"{path}: checkpoint header field {where}.{name} is missing")
        got = value[name]
        if not (got is None and nullable) and not _is_kind(got, kind):
            raise CheckpointError(f"{path}: checkpoint header field {where}.{name} must be "
                                  f"{_KIND_NAMES[kind]}{' or null' * nullable}, got "
                                  f"{got!r:.60}")


def _check_header_fields(path: Path, header: dict[str, Any]) -> None:
    """Check the header against its schema (the model, the optimiser and the trainer state,
    as :func:`save_checkpoint` and ``Trainer.save`` write them) before anything reads it."""
    _check_fields(path, "model", header.get("model"), _MODEL_FIELDS)
    for i, layer in enumerate(header["model"]["layers"]):
        _check_fields(path, f"model.layers[{i}]", layer, _LAYER_FIELDS)
        if "p" in layer and not _is_kind(layer["p"], "num"):
            raise CheckpointError(f"{path}: checkpoint header field model.layers[{i}].p must "
                                  f"be a finite number, got {layer['p']!r:.60}")
    for name, spec in header["model"]["params"].items():
        _check_fields(path, f"model.params[{name!r}]", spec, _PARAM_FIELDS)
    if header.get("optimizer") is not None:
        _check_fields(path, "optimizer", header["optimizer"], _OPTIMIZER_FIELDS)
    if header.get("trainer") is not None:
        _check_fields(path, "trainer", header["trainer"], _TRAINER_FIELDS)


def _check_finite(path: Path, params: dict[str, np.ndarray]) -> None:
    """Refuse NaN or infinite weights, naming the first parameter that holds one.

    Training never saves them (it stops on a non-finite loss and keeps the last good
    checkpoint), so such a file was damaged or written by something else; used, it would
    predict class 0 for every image and print NaN where JSON allows none.
    """
    for name, value in params.items():
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            bad = int(np.count_nonzero(~np.isfinite(value)))
            raise CheckpointError(f"{path}: parameter {name} is not finite ({bad:,} NaN or "
                                  "infinite values): training never saves such weights, so "
                                  "the file was damaged or written by another tool; use an "
                                  "earlier checkpoint or train again")


def _shape(spec: Any) -> tuple[int, ...] | None:
    return tuple(spec) if spec is not None else None


def _model_mismatch(saved: dict[str, Any], model: Sequential) -> str | None:
    """What differs between a saved model description and ``model`` (``None`` if nothing)."""
    now = describe_model(model)
    if saved["name"] != now["name"]:
        return f"checkpoint is for {saved['name']}, this model is {now['name']}"
    if _shape(saved.get("in_shape")) != _shape(now["in_shape"]):
        return (f"checkpoint is for inputs {_shape(saved.get('in_shape'))}, this model takes "
                f"{_shape(now['in_shape'])}")
    saved_layers = [entry["name"] for entry in saved["layers"]]
    now_layers = [entry["name"] for entry in now["layers"]]
    if saved_layers != now_layers:
        return f"checkpoint has layers {saved_layers}, this model has {now_layers}"
    for name, spec in now["params"].items():
        old = saved["params"][name]
        if old != spec:
            return (f"parameter {name} is {old['dtype']} {tuple(old['shape'])} in the checkpoint, "
                    f"{spec['dtype']} {tuple(spec['shape'])} in this model")
    for old, new in zip(saved["layers"], now["layers"], strict=True):
        if old.get("p") != new.get("p"):
            return (f"checkpoint has dropout p={old.get('p')} in {old['name']}, this model has "
                    f"p={new.get('p')}")
    return None


def _optimizer_mismatch(saved: dict[str, Any] | None, optimizer: Any) -> str | None:
    if saved is None:
        return "checkpoint holds no optimiser state"
    now = describe_optimizer(optimizer)
    if saved.get("class") != now["class"]:
        return f"checkpoint was trained with {saved.get('class')}, this optimiser is {now['class']}"
    for key in sorted((set(saved) | set(now)) - {"iteration"}):
        if saved.get(key) != now.get(key):
            return (f"checkpoint was trained with {saved['class']} {key}={saved.get(key)}, this "
                    f"optimiser has {key}={now.get(key)}")
    return None


def check_compatible(ckpt: Checkpoint, model: Sequential, optimizer: Any = None) -> None:
    """Raise :class:`CheckpointError` unless ``ckpt`` fits ``model`` (and ``optimizer``).

    The model must have the same name (variant), input shape, layer names, parameter shapes and
    dtypes and dropout probabilities; the optimiser the same class, learning rate, schedule and
    other hyperparameters (resuming with others would not continue the same run).
    """
    problem = _model_mismatch(ckpt.model, model)
    if problem is None and optimizer is not None:
        problem = _optimizer_mismatch(ckpt.header.get("optimizer"), optimizer)
    if problem is not None:
        raise CheckpointError(f"{ckpt.path}: {problem}")


def load_checkpoint(path: str | os.PathLike[str], model: Sequential,
                    optimizer: Any = None) -> Checkpoint:
    """Read ``path``, check it fits, and load its parameters (and optimiser state) in place.

    Everything is validated before anything is changed, so a refused checkpoint leaves
    ``model`` and ``optimizer`` untouched.

    Returns
    -------
    Checkpoint
        The file's contents (its ``trainer`` state is for :meth:`tinybcnn.train.Trainer.resume`).
    """
    ckpt = read_checkpoint(path)
    check_compatible(ckpt, model, optimizer)
    apply_checkpoint(ckpt, model, optimizer)
    return ckpt


def apply_checkpoint(ckpt: Checkpoint, model: Sequential, optimizer: Any = None) -> None:
    """Copy a checkpoint's parameters (and optimiser state) into ``model`` (and ``optimizer``).

    Call :func:`check_compatible` first; this only moves arrays to the current backend.
    """
    # copy: the optimiser updates parameters in place and must not write into the arrays
    # of the Checkpoint object the caller holds
    model.load_params({k: to_backend(np.array(v, copy=True)) for k, v in ckpt.params.items()})
    if optimizer is not None and ckpt.optimizer_state is not None:
        optimizer.load_state_dict(ckpt.optimizer_state)


def model_from_checkpoint(path: str | os.PathLike[str]) -> tuple[Sequential, Checkpoint]:
    """Rebuild the LeNet a checkpoint was saved from and load its parameters.

    Returns
    -------
    model : Sequential
    checkpoint : Checkpoint

    Raises
    ------
    CheckpointError
        If the checkpoint is not of a :func:`tinybcnn.models.lenet` model.
    """
    from .models import lenet  # local import: models is only needed here

    ckpt = read_checkpoint(path)
    desc = ckpt.model
    if not desc.get("variant") or desc.get("in_shape") is None:
        raise CheckpointError(f"{ckpt.path}: checkpoint is for {desc.get('name')}, which "
                              "model_from_checkpoint cannot rebuild (only lenet-* models)")
    dtype = np.dtype(next(iter(desc["params"].values()))["dtype"])
    model = lenet(desc["variant"], p=desc["p"] if desc["p"] is not None else 0.5,
                  in_shape=tuple(desc["in_shape"]), n_classes=desc["n_classes"], seed=0,
                  dtype=dtype)
    check_compatible(ckpt, model)
    apply_checkpoint(ckpt, model)
    return model, ckpt
