"""MkDocs hook: the tables of ``docs/results.md`` and ``docs/critique.md``, and the numbers
their prose quotes, come from the JSON files in ``docs/results/``, so that a table and the
sentence about it cannot drift apart.

Placeholders, written in those pages:

``{{ table NAME }}`` (alone on a line)
    The markdown table of ``docs/results/NAME.json``: ``columns`` gives each column's ``key``,
    ``label`` and ``format``; ``rows`` the values; ``bold`` the ``[row, key]`` cells to set in
    bold. A ``format`` is a :meth:`str.format` template applied to the value (``"{:.2f}%"``),
    or to its fields when the value is an object (``"{mean:.2f} ± {std:.2f}%"``), or the name
    of a formatter below; a row's ``_format`` overrides its columns' (tables whose rows are
    quantities and whose columns are angles or sample counts).
``{{ table NAME.PART }}`` (alone on a line)
    One more table of the same file: ``tables[PART]`` holds its ``columns`` and ``rows``.
``{{ NAME }}`` (anywhere else)
    A number the prose quotes, computed from the same JSON files by the page's functions in
    :data:`PAGES`.
``<!-- shipped: NAME -->`` ... ``<!-- /shipped -->`` (each marker alone on a line)
    Kept (without the markers) when ``docs/results/NAME.json`` exists, dropped when it does
    not; ``<!-- not shipped: NAME -->`` ... ``<!-- /not shipped -->`` the other way round. A
    page can so be written before its run is shipped, and shows the run the moment its JSON
    is added.

An unknown name or a missing file fails the build, and so does a ``TODO-INTEGRATOR`` comment
that is left in a rendered page (prose still to be written about a shipped run).
``tests/docs/test_docs_results.py`` and ``tests/docs/test_critique_results.py`` read the
rendered tables back and compare them with the JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from statistics import mean
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"
PAGE = "results.md"

TABLE = re.compile(r"^\{\{ table (\w+)(?:\.(\w+))? \}\}[ \t]*$", re.MULTILINE)
QUOTE = re.compile(r"\{\{ ([\w.]+) \}\}")
SHIPPED = re.compile(r"^<!-- (not )?shipped: (\w+) -->[ \t]*\n(.*?)^<!-- /(not )?shipped -->"
                     r"[ \t]*(?:\n|\Z)", re.MULTILINE | re.DOTALL)
TODO = "TODO-INTEGRATOR"


class ResultsError(Exception):
    """A placeholder that names no table or quote (the build turns it into an error)."""


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise ResultsError(f"no results file docs/results/{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def shipped(name: str) -> bool:
    """Whether ``docs/results/NAME.json`` is there."""
    return (RESULTS / f"{name}.json").is_file()


def table_data(name: str, part: str | None = None) -> dict[str, Any]:
    """The ``columns`` and ``rows`` of ``NAME.json``, or of its ``tables[part]``."""
    data = load(name)
    if part is None:
        return data
    if part not in data.get("tables", {}):
        raise ResultsError(f"{name}.json: no table {part!r}")
    return data["tables"][part]


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------


def number(text: str) -> str:
    """Typeset a formatted number: a true minus sign instead of the hyphen."""
    return re.sub(r"(?<![\w-])-(?=\d)", "−", text)


def labels_to_reach(v: dict[str, Any]) -> str:
    """``120 (110–190), 3/3``; ``> 270 (240), 1/3`` when fewer than half the seeds got there."""
    lo, hi = v["min"], v["max"]
    spread = "" if lo is None else f" ({lo})" if lo == hi else f" ({lo}–{hi})"
    median = f"> {v['limit']}" if v["median"] is None else str(v["median"])
    return f"{median}{spread}, {v['reached']}/{v['seeds']}"


FORMATTERS: dict[str, Callable[[Any], str]] = {"labels": labels_to_reach}


def cell(value: Any, fmt: str | None, column: dict[str, Any]) -> str:
    """One table cell as text."""
    if value is None:
        return column.get("null", "—")
    if isinstance(value, str):
        return value
    if isinstance(value, list):          # one value per seed
        return ", ".join(cell(v, fmt, {}) for v in value) + column.get("suffix", "")
    if fmt in FORMATTERS:
        return FORMATTERS[fmt](value)
    if fmt is None:
        return str(value)
    text = fmt.format(**value) if isinstance(value, dict) else fmt.format(value)
    return number(text)


def render_table(data: dict[str, Any]) -> str:
    """The markdown table of one results file."""
    columns = data["columns"]
    bold = {(r, k) for r, k in data.get("bold", [])}
    lines = ["| " + " | ".join(c["label"] for c in columns) + " |",
             "|" + "---|" * len(columns)]
    for i, row in enumerate(data["rows"]):
        cells = []
        for c in columns:
            text = cell(row.get(c["key"]), row.get("_format", c.get("format")), c)
            if c.get("suffix") and not isinstance(row.get(c["key"]), list):
                text += c["suffix"]
            cells.append(f"**{text}**" if (i, c["key"]) in bold and text else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Quotes: the numbers the prose cites, computed from the tables' data
# ---------------------------------------------------------------------------------------


def row(name: str, key: str, value: Any) -> dict[str, Any]:
    """The row of results file ``name`` whose ``key`` is ``value``."""
    for r in load(name)["rows"]:
        if r.get(key) == value:
            return r
    raise ResultsError(f"{name}.json: no row with {key} = {value!r}")


def pts(x: float, digits: int = 2) -> str:
    return number(f"{x:.{digits}f}")


def series(values: list[str]) -> str:
    """``a, b and c``."""
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def fmnist_margins() -> dict[str, str]:
    seeds = [r for r in load("small_data_fmnist")["rows"] if r["seed"] is not None]
    mc_all = {r["seed"]: r["mc_error"] for r in seeds if r["model"] == "lenet-all"}
    best_ip = {r["seed"]: min(r["std_error"], r["mc_error"]) for r in seeds
               if r["model"] == "lenet-ip"}
    gaps = [best_ip[s] - mc_all[s] for s in sorted(mc_all)]
    m_all, m_ip = row("small_data_fmnist", "model", "mean lenet-all"), row(
        "small_data_fmnist", "model", "mean lenet-ip")
    smallest = min(range(len(gaps)), key=lambda i: gaps[i])
    return {
        "fmnist.below_std_all": pts(m_all["std_error"] - m_all["mc_error"], 1),
        "fmnist.below_std_ip": pts(m_ip["std_error"] - m_all["mc_error"], 1),
        "fmnist.below_best_ip": series([pts(g) for g in gaps]),
        "fmnist.smallest_seed": str(sorted(mc_all)[smallest]),
        "fmnist.smallest_gap": pts(gaps[smallest]),
        "fmnist.smallest_images": str(round(gaps[smallest] / 100 * 5000)),
    }


def embedded_margins() -> dict[str, str]:
    rows = {r["n_train"]: r for r in load("small_data_embedded")["rows"]}
    rescue = [r["all_std"]["mean"] - r["all_mc"]["mean"] for r in rows.values()]
    others = ("none", "ip_std", "ip_mc", "all_mc")      # every model but standard lenet-all
    return {
        "embedded.rescue_min": pts(min(rescue)),
        "embedded.rescue_max": pts(max(rescue), 1),
        "embedded.spread_750": pts(max(rows[750][k]["mean"] for k in others)
                                   - min(rows[750][k]["mean"] for k in others)),
        "embedded.ahead_1500": pts(rows[1500]["ip_mc"]["mean"] - rows[1500]["all_mc"]["mean"]),
        "embedded.behind_188": pts(rows[188]["all_mc"]["mean"] - rows[188]["ip_std"]["mean"]),
        "embedded.behind_6000": pts(rows[6000]["all_mc"]["mean"] - rows[6000]["none"]["mean"]),
    }


def mc_samples_quotes() -> dict[str, str]:
    data = load("mc_samples")
    errors = row("mc_samples", "quantity", "MC error")
    ts = [c["key"] for c in data["columns"][1:]]
    standard = data["standard_error"]
    cross = next(t for t in ts if errors[t] < standard)
    return {"mc.standard": f"{standard:.2f}%", "mc.cross_T": cross,
            "mc.below_at_last": pts(standard - errors[ts[-1]], 1), "mc.last_T": ts[-1]}


def rotation_quotes() -> dict[str, str]:
    data = load("rotation")
    angles = [c["key"] for c in data["columns"][1:]]
    std, mc = row("rotation", "quantity", "test NLL, standard"), row("rotation", "quantity",
                                                                     "test NLL, MC")
    worse = [a for a in angles if mc[a] >= std[a]]
    mi = row("rotation", "quantity", "mean MI, MC")
    rest = [mi[a] for a in angles[1:]]
    return {
        "rotation.nll_lower": f"{len(angles) - len(worse)} of the {len(angles)}",
        "rotation.nll_not_lower": series([f"{a}°" for a in worse]),
        "rotation.nll_within": pts(max(mc[a] - std[a] for a in worse)),
        "rotation.mi_0": pts(mi[angles[0]]),
        "rotation.mi_range": f"{pts(min(rest))}–{pts(max(rest))}",
    }


def active_learning_quotes() -> dict[str, str]:
    def last_half(name: str) -> list[float]:
        return row("active_learning", "name", name)["last_half"]

    def better(name: str) -> list[float]:
        # points below random's error over the last half of the rounds, per seed, from the
        # table's rounded values (so the prose matches the table digit for digit)
        return [round(r - x, 1) for r, x in zip(last_half("random"), last_half(name),
                                                  strict=True)]

    def per_seed(diffs: list[float]) -> str:
        words = []
        for seed, d in enumerate(diffs):
            if d == 0:
                words.append(f"equal on seed {seed}")
            else:
                words.append(f"{abs(d):.1f} {'lower' if d > 0 else 'higher'} on seed {seed}")
        return series(words)

    data = load("active_learning")
    bald25 = data["bald_labels_to_25_per_seed"]
    limit = row("active_learning", "name", "random")["to_25"]["limit"]
    random30 = row("active_learning", "name", "random")["to_30"]["median"]
    bald30 = row("active_learning", "name", "bald")["to_30"]["median"]
    bald25_median = row("active_learning", "name", "bald")["to_25"]["median"]
    beyond = limit + 10                               # the next labelled-set size
    at_270 = {r["name"]: mean(r["error_270"]) for r in data["rows"]}
    lowest = min(at_270, key=at_270.get)
    out = {
        "al.bald_per_seed": per_seed(better("bald")),
        "al.bald25_per_seed": series([str(n) for n in bald25]),
        "al.beyond": str(beyond),
        "al.bald25_median": str(bald25_median),
        "al.ratio25_median": f"{bald25_median / beyond:.2f}",
        "al.ratio25_per_seed": series([f"{n / beyond:.2f}×" for n in bald25]),
        "al.ratio30": f"{bald30 / random30:.2f}",
        "al.bald30": str(bald30),
        "al.random30": str(random30),
        "al.lowest_at_270": f"`{lowest}`",
        "al.lowest_at_270_mean": f"{at_270[lowest]:.1f}%",
    }
    for name in ("variation_ratio", "variation_ratio_probs", "max_entropy", "mean_std"):
        out[f"al.{name}_per_seed"] = per_seed(better(name))
    return out


def regression_quotes() -> dict[str, str]:
    data = load("regression")
    noise = 1.0 / data["tau"]                          # aleatoric variance 1/tau
    inside, gap = row("regression", "points", "in the data"), row("regression", "points",
                                                                  "in the gap")
    band = ((noise + gap["epistemic_std"] ** 2) / (noise + inside["epistemic_std"] ** 2)) ** 0.5
    return {"regression.band_ratio": f"{band:.1f}",
            "regression.epistemic_ratio": f"{gap['epistemic_std'] / inside['epistemic_std']:.1f}",
            "regression.noise_std": f"{noise ** 0.5:.2g}"}


def rivals_quotes() -> dict[str, str]:
    """``rivals.<method>.<score>`` for every row and score of section 9 (the method's name
    in lower case, words joined by ``_``, "+ TS" as ``_ts``: ``rivals.mc_lenet_all_ts.nll``),
    and ``rivals.p.<layer>``: Concrete dropout's learnt p per layer."""
    data = load("rivals")
    out = {f"rivals.p.{layer}": f"{p:.2f}" for layer, p in data.get("learnt_p", {}).items()}
    for r in data["rows"]:
        slug = re.sub(r"[^a-z0-9]+", "_", r["method"].lower().replace("+ ts", "ts")).strip("_")
        for score, digits in (("error", 1), ("nll", 3), ("brier", 3), ("ece", 3),
                              ("auroc_entropy", 3), ("auroc_mi", 3)):
            if r.get(score) is not None:
                out[f"rivals.{slug}.{score}"] = pts(r[score]["mean"], digits)
        for cost in ("train_cost", "predict_cost"):
            out[f"rivals.{slug}.{cost}"] = pts(r[cost], 1)
    return out


def _count(n: int) -> str:
    return f"{n:,}"


def _settings_quotes(data: dict[str, Any]) -> dict[str, str]:
    """The run's settings and cost, as the prose names them."""
    s = data["settings"]
    seeds, sizes = s["seeds"], s["sizes"]
    out = {"critique.sizes": series([_count(n) for n in sizes]),
           "critique.smallest": _count(sizes[0]), "critique.largest": _count(sizes[-1]),
           "critique.seeds": series([str(x) for x in seeds]),
           "critique.n_seeds": str(len(seeds)), "critique.T": str(s["samples"]),
           "critique.K": str(s["members"]), "critique.p": f"{s['p']:g}",
           "critique.concrete_p": f"{s['concrete_p']:g}", "critique.n_test": _count(s["n_test"]),
           "critique.dataset": s["dataset"], "critique.batch_size": str(s["batch_size"]),
           "critique.test_images": (f"all {_count(s['n_test'])} test images"
                                    if s["n_test"] == s["test_split"] else
                                    f"a stratified {_count(s['n_test'])} of the "
                                    f"{_count(s['test_split'])} test images"),
           "critique.training": (
               f"{_count(s['iterations'])} iterations of batch {s['batch_size']} for every "
               "network whatever its training set (so training length is not confounded "
               "with $N$)" if s["iterations"] is not None else
               f"30 epochs of batch {s['batch_size']} for each network (1,000 to 10,000 "
               "iterations: training length grows with $N$)")}
    if data.get("wall_seconds") is not None:
        out["critique.wall_minutes"] = str(round(data["wall_seconds"] / 60))
    machine = data.get("machine") or {}
    if machine.get("cpu_count"):
        cpu = machine.get("cpu_model") or "CPU"
        out["critique.machine"] = f"{machine['cpu_count']}-CPU {cpu}"
    return out


def _call(command: dict[str, Any]) -> str:
    """The Python call that reruns the experiment, from the record's ``arguments``."""
    args = ['"critique"', '"out"', f'dataset="{command.get("dataset", "embedded")}"']
    if command.get("quick"):
        args.append("quick=True")
    for key in ("seeds", "iterations"):
        if command.get(key) is not None:
            args.append(f"{key}={command[key]!r}")
    if command.get("seed"):
        args.append(f"seed={command['seed']!r}")
    args += [f"{k}={v!r}" for k, v in command.get("overrides", {}).items()]
    return f"tb.experiments.run({', '.join(args)})"


def critique_quotes() -> dict[str, str]:
    """docs/critique.md's numbers, from ``critique.json`` (shown as its tables show them):

    ``critique.<method>.<in|out|error>.<N>`` the mean over seeds at ``N`` training images
    (``<method>``: ``mc_dropout``, ``concrete``, ``ensemble``; ``<N>`` also ``first`` and
    ``last``, the smallest and largest size; ``.std`` after it for the spread),
    ``critique.<method>.ratio.<N>`` MI out over MI in at ``N``,
    ``critique.<method>.shrink`` and ``.shrink_out`` the shrink table's ratios,
    ``critique.p.<layer>.<N>`` Concrete dropout's learnt p, ``critique.call`` the Python call
    that reruns it, and the settings (``critique.sizes``, ``.seeds``, ``.T``, ``.K``,
    ``.training``, ``.test_images``, ...)."""
    data = load("critique")
    sizes = data["settings"]["sizes"]
    out = {**_settings_quotes(data), "critique.call": _call(data["command"])}

    def put(key: str, n: int, value: str) -> None:
        """``key`` at size ``n``, and at ``first``/``last`` when ``n`` is one of those."""
        for name in [str(n)] + ["first"] * (n == sizes[0]) + ["last"] * (n == sizes[-1]):
            out[key.format(n=name)] = value

    for r in data["rows"]:
        method, n = r["_method"], r["n_train"]
        for key, name, digits in (("mi_in", "in", 3), ("mi_out", "out", 3), ("error", "error", 1)):
            put(f"critique.{method}.{name}.{{n}}", n, pts(r[key]["mean"], digits))
            put(f"critique.{method}.{name}.{{n}}.std", n, pts(r[key]["std"], digits))
        if r["mi_in"]["mean"]:
            ratio = r["mi_out"]["mean"] / r["mi_in"]["mean"]
            put(f"critique.{method}.ratio.{{n}}", n, pts(ratio, 1))
    for r in data["tables"]["shrink"]["rows"]:
        for key, name in (("in", "shrink"), ("out", "shrink_out")):
            out[f"critique.{r['_method']}.{name}"] = "—" if r[key] is None else pts(r[key])
    for r in data["tables"].get("learnt_p", {}).get("rows", []):
        for layer, v in r.items():
            if layer != "n_train":
                put(f"critique.p.{layer}.{{n}}", r["n_train"], pts(v["mean"]))
    return out


#: Each page the hook renders, and the functions that compute the numbers its prose quotes
#: (called only when the page, its unshipped blocks dropped, still quotes a number).
PAGES: dict[str, tuple[Callable[[], dict[str, str]], ...]] = {
    "results.md": (fmnist_margins, embedded_margins, mc_samples_quotes, rotation_quotes,
                   active_learning_quotes, regression_quotes, rivals_quotes),
    "critique.md": (critique_quotes,),
}
#: The results page's quotes (kept under its old name).
QUOTE_SOURCES = PAGES[PAGE]


def quotes(page: str = PAGE) -> dict[str, str]:
    out: dict[str, str] = {}
    for source in PAGES[page]:
        out.update(source())
    return out


def resolve_shipped(markdown: str) -> str:
    """Keep each ``shipped: NAME`` block whose JSON is there and each ``not shipped: NAME``
    block whose JSON is not; drop the others (see the module docstring)."""
    def block(m: re.Match) -> str:
        negated, name, body, closing = m.groups()
        if bool(negated) != bool(closing):
            raise ResultsError(f"<!-- {negated or ''}shipped: {name} --> is closed by "
                               f"<!-- /{closing or ''}shipped -->")
        return body if shipped(name) != bool(negated) else ""

    markdown = SHIPPED.sub(block, markdown)
    stray = re.search(r"^<!-- /?(?:not )?shipped\b.*$", markdown, flags=re.MULTILINE)
    if stray:
        raise ResultsError(f"an unmatched block marker: {stray.group(0)}")
    return markdown


def render(markdown: str, page: str = PAGE) -> str:
    """``page`` (``results.md`` or ``critique.md``) with every placeholder replaced."""
    markdown = resolve_shipped(markdown)
    if TODO in markdown:
        line = next(x for x in markdown.splitlines() if TODO in x)
        raise ResultsError(f"a {TODO} note is left in a shipped section: {line.strip()}")
    markdown = TABLE.sub(lambda m: render_table(table_data(m.group(1), m.group(2))), markdown)
    if not QUOTE.search(markdown):
        return markdown
    values = quotes(page)

    def quote(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ResultsError(f"unknown quote {{{{ {m.group(1)} }}}}")
        return values[m.group(1)]

    return QUOTE.sub(quote, markdown)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri not in PAGES:
        return markdown
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown, page.file.src_uri)
    except ResultsError as e:
        raise PluginError(f"{page.file.src_uri}: {e}") from e
