"""How many BLAS threads to use: the CPUs that are actually free, or what the user asks for.

OpenBLAS threads spin while they wait for each other. When another process keeps a core
busy, the operating system parks one of our threads, and the other spins until it comes back:
on a 2-core machine with a second NumPy training running, one LeNet step took 1,200 ms with
2 BLAS threads and 79 ms with 1. So the thread count is decided from what is available:

1. ``--threads N`` on the command line (passed here as ``requested``), else
2. the environment variable ``TINYBCNN_THREADS``, else
3. the CPUs this process may run on (``os.sched_getaffinity``, capped by a cgroup CPU quota),
   less the cores other processes keep busy, rounded to the nearest whole core: the tasks
   runnable right now (Linux; elsewhere the 1-minute load average), where that load is about
   the same CPUs (all of the machine's CPUs are ours, and no quota). At least 1.

It is applied with threadpoolctl when a training or prediction run starts (the command line
does it), never at import. ``tinybcnn info`` shows the choice and its reason.

A NumPy training step has a count of its own, :func:`step_threads`. Whatever the count, the
step computes the same thing: the two halves of its batch, each on one BLAS thread
(:mod:`tinybcnn.training.split`; the partition depends on the shapes only, and a step too
small to gain from halves runs whole, :func:`parts_for`). The count
decides only *when* they run: side by side on 2 threads or more, one after the other on 1.
On 2 threads the halves never wait for each other inside a product, so nothing spins, and
beside a competing process they keep the step at about its fair share (1.4–2.0× its time
alone, against 2.8–3.2× for the whole batch on one thread; 2-core AMD EPYC,
``benchmarks/README.md``). So the automatic choice gives training steps the CPUs this process
may run on, whatever the load, and lowers only the BLAS count, which decides whether the
two parts of a prediction's batch run side by side (:mod:`tinybcnn.predict`). A count the
user gives is both.

Work on small matrices (the regression MLP, LeNet on a few dozen images) runs inside
:func:`small_work_threads`: one thread, unless the user chose a count (1 or 2 above).

The BLAS count changes the bits of a product. With NumPy's OpenBLAS 0.3.31 (Haswell kernels,
2-core AMD EPYC), ``benchmarks/blas_bits.py`` found that at batch 32 and 64 the forward and
weight-gradient products of conv2 and ip1 on 1 thread match those on no other count (2, 3,
4, 8), and those on 2 threads match neither 4's nor 8's; conv1's weight gradient agrees on 2
and 3 threads only; only the small products (conv1's forward, ip2's) are the same on every
count. So a training step never runs on the BLAS count in force, nor on one derived from
it: each of its halves runs on one BLAS thread, and the same seed trains to the same bits
on 1, 2 or more threads, on a busy or an idle machine. Prediction and evaluation do the
same (:mod:`tinybcnn.predict`): every product on one BLAS thread, each batch in two parts
fixed by its shapes, side by side where the BLAS count is 2 or more, so their scores follow
no count either. A run records both counts it starts with, and a resumed run uses them
again (:func:`same_threads_as`), for its speed only.
"""

from __future__ import annotations

import functools
import math
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ENV_VAR", "ThreadChoice", "available_cpus", "choose_threads", "apply_threads",
           "blas_threads", "describe", "small_work_threads", "user_chose_threads",
           "current_blas_threads", "same_threads_as", "blas_threads_now", "limit_blas",
           "parts_for", "step_threads", "MIN_SPLIT_WORK"]

ENV_VAR = "TINYBCNN_THREADS"

_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_PROC_LOADAVG = Path("/proc/loadavg")  # "1min 5min 15min running/total last_pid"
_OWN_TASKS = Path("/proc/self/task")    # one folder per thread of this process
_limiter: Any = None  # the threadpoolctl limiter in force (kept so it is not collected)
_applied: ThreadChoice | None = None  # the last choice apply_threads made
# the threads a NumPy training step may use, where set (apply_threads, same_threads_as,
# small_work_threads); None: the BLAS count in force (step_threads)
_step_threads: int | None = None


@dataclass(frozen=True)
class ThreadChoice:
    """A BLAS thread count, why it was chosen, and the threads a training step may use.

    ``step_threads`` is None where it is ``threads`` (a count the user gave); the automatic
    choice sets it to the CPUs available, load or no load (see the module's notes).
    """

    threads: int
    reason: str
    step_threads: int | None = None

    @property
    def steps(self) -> int:
        """The threads a NumPy training step may use under this choice."""
        return self.threads if self.step_threads is None else self.step_threads


def _cgroup_quota_cpus(path: Path = _CGROUP_CPU_MAX) -> int | None:
    """CPUs allowed by a cgroup v2 quota (``cpu.max`` = "quota period"), or None if unlimited."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def available_cpus() -> tuple[int, bool]:
    """CPUs this process may use, and whether they are all of the machine's CPUs.

    Returns ``(cpus, whole_machine)``: ``whole_machine`` is False when an affinity mask or a
    cgroup quota restricts the process, so the machine-wide load average is not about them.
    """
    total = os.cpu_count() or 1
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows: no affinity masks
        cpus = total
    quota = _cgroup_quota_cpus()
    if quota is not None and quota < cpus:
        return quota, False
    return cpus, cpus == total


def _load_average() -> float | None:
    """Cores other processes keep busy now, or None if unknown.

    On Linux: the number of runnable tasks (``/proc/loadavg``) less this process's own,
    sampled 5 times over 50 ms and averaged. It sees a competitor that has just started, and
    a competitor that has just stopped: the 1-minute load average lags by tens of seconds,
    and right after a run of one's own (a second ``tinybcnn demo``, the next tutorial) it
    still counted that run, so one thread was chosen on an idle machine (the demo took 2:00
    against 1:21). Elsewhere the 1-minute load average, the best there is.

    Only the BLAS count follows it (training steps keep the CPUs: see the module's notes).
    Erring high runs a prediction's two parts side by side beside a competitor (each on one
    BLAS thread: they share a core, nothing spins); erring low runs them one after the
    other on an idle machine, which costs up to the second core.
    """
    runnable = []
    for _ in range(5):
        try:
            running = _PROC_LOADAVG.read_text().split()[3].split("/")[0]
        except (OSError, IndexError):
            break
        runnable.append(max(0, int(running) - _own_running_threads()))  # others' tasks
        time.sleep(0.01)
    if runnable:
        return sum(runnable) / len(runnable)
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None


def _own_running_threads() -> int:
    """Threads of this process that are runnable now (at least 1: the one asking).

    The run queue counts every runnable thread, this process's own BLAS threads too (they
    spin for a while after each product), and those are not competitors.
    """
    running = 0
    for stat in _OWN_TASKS.glob("*/stat"):
        try:  # "pid (comm) S ...": the state follows the last ')' (comm may hold spaces)
            running += stat.read_text().rsplit(")", 1)[1].split()[0] == "R"
        except (OSError, IndexError):
            continue
    return max(running, 1)


def _parse_count(value: Any, source: str) -> int:
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1 or str(value).strip() != str(n):
        raise ValueError(f"{source} must be a whole number of threads >= 1, got {value!r}")
    return n


def choose_threads(requested: int | None = None, *, cpus: int | None = None,
                   whole_machine: bool | None = None, load: float | None = None,
                   environ: dict[str, str] | None = None) -> ThreadChoice:
    """Decide the BLAS thread count.

    Parameters
    ----------
    requested : int, optional
        An explicit count (``--threads``); wins over everything else.
    cpus, whole_machine, load : optional
        The CPUs this process may use, whether they are the whole machine, and the number of
        cores other processes keep busy (a load). Measured when not given (tests inject them).
    environ : dict, optional
        Environment to read ``TINYBCNN_THREADS`` from (``os.environ`` by default).

    Returns
    -------
    ThreadChoice
        ``threads >= 1``, a one-line reason, and the training step's count.

    Notes
    -----
    Automatic choice: ``max(1, cpus - round(load))`` BLAS threads when the load is about our
    CPUs, else ``cpus``. A load of 1.2 on 2 CPUs (one other busy process) gives 1 thread;
    0.3 gives 2. Training steps get ``cpus`` either way.
    """
    environ = os.environ if environ is None else environ
    if requested is not None or environ.get(ENV_VAR, "").strip():
        source = "--threads" if requested is not None else ENV_VAR
        n = _parse_count(requested if requested is not None else environ[ENV_VAR], source)
        # more threads than CPUs only spin (TINYBCNN_THREADS=99999 made every step slower):
        # a count above the CPUs this process may use is clamped to them, and the reason
        # says so (apply_threads warns)
        cpus = available_cpus()[0] if cpus is None else cpus
        if n > cpus:
            return ThreadChoice(cpus, f"{source} asked for {n}, clamped to the {cpus} CPUs "
                                f"available")
        return ThreadChoice(n, source)
    if cpus is None:
        cpus, measured_whole = available_cpus()
        whole_machine = measured_whole if whole_machine is None else whole_machine
    if load is None:
        load = _load_average()
    if load is None or not whole_machine:
        return ThreadChoice(cpus, f"{cpus} CPUs available", step_threads=cpus)
    busy = math.floor(load + 0.5)  # cores other processes keep busy, to the nearest core
    threads = max(1, min(cpus, cpus - busy))
    return ThreadChoice(threads, f"{cpus} CPUs, load {load:.2f}", step_threads=cpus)


def apply_threads(requested: int | None = None) -> ThreadChoice:
    """Choose the thread counts (:func:`choose_threads`): limit the BLAS pools to one, and
    let training steps use the other (:func:`step_threads`)."""
    global _limiter, _applied, _step_threads
    from threadpoolctl import threadpool_limits

    choice = choose_threads(requested)
    if "clamped" in choice.reason:
        warnings.warn(f"{choice.reason}: using {choice.threads} threads", stacklevel=2)
    _limiter = threadpool_limits(limits=choice.threads, user_api="blas")
    _applied = choice
    _step_threads = choice.steps
    return choice


def step_threads() -> int:
    """The threads a NumPy training step may use now (2 or more: its parts run side by side,
    :func:`parts_for`): as :func:`apply_threads`, :func:`same_threads_as` or
    :func:`small_work_threads` set them, else the BLAS count in force."""
    return blas_threads_now() if _step_threads is None else _step_threads


@contextmanager
def _steps_on(threads: int | None) -> Iterator[None]:
    """Inside the block, training steps may use ``threads`` threads (None: the BLAS count)."""
    global _step_threads
    before, _step_threads = _step_threads, threads
    try:
        yield
    finally:
        _step_threads = before


def user_chose_threads(environ: dict[str, str] | None = None) -> bool:
    """True if the user fixed the count: ``--threads`` (through :func:`apply_threads`) or
    ``TINYBCNN_THREADS``."""
    environ = os.environ if environ is None else environ
    return bool(environ.get(ENV_VAR, "").strip()) or (
        _applied is not None and _applied.reason.startswith("--threads"))


@contextmanager
def small_work_threads() -> Iterator[None]:
    """Run BLAS and training steps on one thread inside the block, unless the user chose a
    count.

    For small matrices (the 1-D regression MLP, LeNet on a few dozen images) BLAS threads
    cost more than they save, and on a busy machine they spin: measured on a loaded 2-core
    machine, a 3×128 MLP step took 18 ms with two BLAS threads and 1 ms with one, a LeNet-all
    step at batch 32 about 250 ms against 42 ms. An explicit ``--threads`` or
    ``TINYBCNN_THREADS`` is obeyed as it is.
    """
    if user_chose_threads():
        yield
        return
    from threadpoolctl import threadpool_limits  # a dependency, as in apply_threads

    with threadpool_limits(limits=1, user_api="blas"), _steps_on(1):
        yield


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's handle on the BLAS libraries loaded at the first call: NumPy's among
    them (it loads with NumPy), which is the one a training step uses. Found once, since the
    search takes about 2 ms and a training step asks every time; a BLAS library loaded later
    (SciPy's own, say) is not seen."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


def blas_threads_now() -> int:
    """The BLAS thread count in force, in about a microsecond (0 without a BLAS library).

    The smallest count over the BLAS libraries: a library loaded after a limit was set
    (SciPy's own OpenBLAS, imported later) keeps its default, one per CPU, so the smallest
    is the count that was set, the one NumPy's products run on.
    """
    return min((lib.get_num_threads() for lib in _blas_controller().lib_controllers), default=0)


#: The smallest step that is cut in two halves: rows × parameters, a lower bound on the
#: multiply-adds of its forward pass. Below it the halves cost more than they save: the
#: regression experiment's 3×128 MLP at batch 32 (1.1 M) took 1.5–1.8× the whole batch's
#: time as two halves on one thread, and no less side by side on two (loaded 2-core AMD
#: EPYC). LeNet-all from batch 10 (431 k parameters) is above it.
MIN_SPLIT_WORK = 4 * 2**20


def parts_for(rows: int, params: int = MIN_SPLIT_WORK) -> int:
    """How many parts a NumPy training step of ``rows`` rows of a model with ``params``
    parameters runs in: 2 from two rows and :data:`MIN_SPLIT_WORK`, else 1.

    Fixed by the shapes alone, never by the threads or the load: the parts decide how the
    step sums its float32 gradients, so the same seed gives the same bits on any count
    (:func:`step_threads` decides only whether they run side by side). Two, because the
    machine this was measured on has two cores; on more threads the two parts still run side
    by side on one BLAS thread each (more BLAS threads per part would change the bits of the
    products, see the module's notes), and the other cores stay free for other work.
    """
    return 2 if rows >= 2 and rows * params >= MIN_SPLIT_WORK else 1


def limit_blas(threads: int) -> Any:
    """A context manager running BLAS on ``threads`` threads inside it (cheap to enter)."""
    return _blas_controller().limit(limits=threads)


def current_blas_threads() -> int | None:
    """The BLAS thread count in force now (:func:`blas_threads_now`), or None if no BLAS
    library is loaded."""
    return blas_threads_now() or None


@contextmanager
def same_threads_as(started: int | None, what: str = "the run",
                    started_steps: int | None = None) -> Iterator[None]:
    """Inside the block, use the thread counts a run began with.

    Parameters
    ----------
    started : int or None
        The BLAS thread count the run began with (None: unknown, nothing is changed).
    what : str
        The run, as a warning names it.
    started_steps : int, optional
        The threads its training steps used (:func:`step_threads`); None for a run recorded
        before steps had a count of their own, when they followed the BLAS count.

    Notes
    -----
    Neither count changes a number: training steps and predictions run their products on
    one BLAS thread per part whatever the count (:mod:`tinybcnn.training.split`,
    :mod:`tinybcnn.predict`), so a resumed run is the uninterrupted one bit for bit on any
    count. The counts a run began with are used again for its speed (the BLAS count decides
    whether a prediction's two parts run side by side, the step's count the same for a
    training step's halves), and the previous ones restored afterwards. An explicit
    ``--threads`` or ``TINYBCNN_THREADS`` still wins, with a warning that says the counts.
    A recorded BLAS count above the CPUs available here (a run begun on a bigger machine, or
    a hand-edited config.json) is clamped to them, with a warning, as ``--threads`` is: more
    threads than CPUs only spin (64 on 2 CPUs made every step 14 times slower). The step's
    count is kept: it decides whether the batch's two parts run side by side, never what
    they compute.
    """
    now, now_steps = current_blas_threads(), step_threads()
    steps = started if started_steps is None else started_steps
    cpus = available_cpus()[0]
    if started is not None and started > cpus and not user_chose_threads():
        warnings.warn(f"{what} started with {_counts(started, steps)}, more than the {cpus} "
                      f"CPUs available here: continuing with {cpus} BLAS thread"
                      f"{'s' * (cpus != 1)} (more threads than CPUs only spin)",
                      stacklevel=3)
        started = cpus
    if started is None or now is None or (started, steps) == (now, now_steps):
        yield
        return
    if user_chose_threads():
        if started != now:  # the step's count alone changes no bits: nothing to say
            warnings.warn(f"{what} started with {_counts(started, steps)} and continues "
                          f"with {_counts(now, now_steps)} (as asked): its speed may "
                          "differ, its weights and scores are the same bits",
                          stacklevel=3)
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=started, user_api="blas"), _steps_on(steps):
        yield


def _counts(blas: int, steps: int) -> str:
    """The counts as a warning says them: '2 BLAS threads', or '1 BLAS thread (training
    steps on 2)' where they differ."""
    text = f"{blas} BLAS thread{'s' * (blas != 1)}"
    return text if steps == blas else f"{text} (training steps on {steps})"


def blas_threads() -> list[dict[str, Any]]:
    """The BLAS libraries loaded in this process and their current thread counts (``owner``:
    the package that ships the library, e.g. ``numpy`` or ``scipy``, when its path says)."""
    from threadpoolctl import threadpool_info

    return [{**{k: d.get(k) for k in ("internal_api", "version", "num_threads")},
             "owner": _owner(str(d.get("filepath") or ""))}
            for d in threadpool_info() if d.get("user_api") == "blas"]


def _owner(path: str) -> str | None:
    """``numpy`` for ``.../numpy.libs/libscipy_openblas...so``, and so on; else None."""
    for part in reversed(Path(path).parts[:-1]):
        name = part.removesuffix(".libs").removesuffix(".dylibs")
        if name in ("numpy", "scipy", "torch", "cupy"):
            return name
    return None


def describe(requested: int | None = None) -> str:
    """One line for ``tinybcnn info``, in words a user can act on: the BLAS threads a command
    would use and why, how to change them, the training step's cores, and the BLAS libraries.

    For example ``"evaluation and prediction on 1 BLAS thread (2 CPUs, load 1.00: about 1 core
    busy with other work; change with --threads N or TINYBCNN_THREADS=N); training steps on 2
    cores: each batch in two halves side by side, one BLAS thread each; BLAS libraries:
    openblas 0.3.31 (numpy's), openblas 0.3.30 (scipy's), 2 threads each until a command sets
    them"``. NumPy and SciPy each ship their own OpenBLAS, hence two libraries.
    """
    choice = choose_threads(requested)
    reason = choice.reason
    if ", load " in reason:
        busy = math.floor(float(reason.rsplit(" ", 1)[1]) + 0.5)
        reason += f": about {busy} core{'s' * (busy != 1)} busy with other work"
    # the step's two halves use 2 cores at most, whatever the count (parts_for)
    cores = min(choice.steps, 2)
    steps = ("each batch in two halves side by side, one BLAS thread each" if cores > 1 else
             "each batch in two halves one after the other, on one BLAS thread")
    libs = blas_threads()
    names = ", ".join(f"{b['internal_api']} {b['version']}"
                      + (f" ({b['owner']}'s)" if b.get("owner") else "") for b in libs)
    counts = sorted({b["num_threads"] for b in libs})
    each = " each" if len(libs) > 1 else ""
    now = (f", {counts[0]} thread{'s' * (counts[0] != 1)}{each} until a command sets them"
           if len(counts) == 1 else
           f", {'/'.join(map(str, counts))} threads until a command sets them" if counts else "")
    blas = f"BLAS libraries: {names}{now}" if libs else "no BLAS library found"
    plural = "s" * (choice.threads != 1)
    return (f"evaluation and prediction on {choice.threads} BLAS thread{plural} ({reason}; "
            f"change with --threads N or {ENV_VAR}=N); training steps on {cores} "
            f"core{'s' * (cores != 1)}: {steps}; {blas}")
