"""MkDocs hook: the tables of ``docs/results.md``, and the differences its prose quotes, come
from the JSON files in ``docs/results/``, so that a table and the sentence about it cannot
drift apart.

Two placeholders, written in ``results.md``:

``{{ table NAME }}`` (alone on a line)
    The markdown table of ``docs/results/NAME.json``: ``columns`` gives each column's ``key``,
    ``label`` and ``format``; ``rows`` the values; ``bold`` the ``[row, key]`` cells to set in
    bold. A ``format`` is a :meth:`str.format` template applied to the value (``"{:.2f}%"``),
    or to its fields when the value is an object (``"{mean:.2f} ± {std:.2f}%"``), or the name
    of a formatter below; a row's ``_format`` overrides its columns' (tables whose rows are
    quantities and whose columns are angles or sample counts).
``{{ NAME }}`` (anywhere else)
    A number the prose quotes, computed by the function of that name in :data:`QUOTES` from
    the same JSON files.

An unknown name or a missing file fails the build. ``tests/docs/test_docs_results.py`` reads the
rendered tables back and compares them with the JSON.
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

TABLE = re.compile(r"^\{\{ table (\w+) \}\}[ \t]*$", re.MULTILINE)
QUOTE = re.compile(r"\{\{ ([\w.]+) \}\}")


class ResultsError(Exception):
    """A placeholder that names no table or quote (the build turns it into an error)."""


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        raise ResultsError(f"{PAGE}: no results file {path.relative_to(ROOT)}")
    return json.loads(path.read_text(encoding="utf-8"))


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


#: Every quote the page may use, computed on first use.
QUOTE_SOURCES: tuple[Callable[[], dict[str, str]], ...] = (
    fmnist_margins, embedded_margins, mc_samples_quotes, rotation_quotes,
    active_learning_quotes, regression_quotes, rivals_quotes)


def quotes() -> dict[str, str]:
    out: dict[str, str] = {}
    for source in QUOTE_SOURCES:
        out.update(source())
    return out


def render(markdown: str) -> str:
    """``results.md`` with every placeholder replaced."""
    markdown = TABLE.sub(lambda m: render_table(load(m.group(1))), markdown)
    values = quotes()

    def quote(m: re.Match) -> str:
        if m.group(1) not in values:
            raise ResultsError(f"{PAGE}: unknown quote {{{{ {m.group(1)} }}}}")
        return values[m.group(1)]

    return QUOTE.sub(quote, markdown)


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    from mkdocs.exceptions import PluginError

    try:
        return render(markdown)
    except ResultsError as e:
        raise PluginError(str(e)) from e
