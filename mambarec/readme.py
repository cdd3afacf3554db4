"""``python -m mambarec readme``: the README's results block, rendered from ``precomputed/``.

The README's tables are read from the precomputed artifacts, never computed a second time; a test
checks that the block in README.md is what this renders.
"""

from __future__ import annotations

import re
from pathlib import Path

from mambarec.artifacts import DEFAULT_OUT, PrecomputedError, load_precomputed
from mambarec.report import missing_lines, seeds_line
from mambarec.summary import summary_lines, warmup_stop_lines
from mambarec.tables import markdown_tables

START, END = "<!-- results:start -->", "<!-- results:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def results_block(precomputed_dir: str | Path = DEFAULT_OUT) -> str:
    pre = load_precomputed(precomputed_dir)
    if not pre["results"]:
        raise PrecomputedError(f"{precomputed_dir} holds no runs: nothing to write into the README")
    shipped = Path(precomputed_dir).resolve() == (README.parent / DEFAULT_OUT).resolve()
    folder = DEFAULT_OUT if shipped else Path(precomputed_dir).as_posix().rstrip("/")
    manifest = pre["manifest"]
    tables = markdown_tables(pre["results"], pre["alignment"])
    budgets = {(b["epochs"], b["patience"]) for b in manifest["budgets"].values()}
    rows = pre["results"]
    main = [d for d in manifest["datasets"] if not d.startswith("synthetic/")]
    lines = [f"Read from `{folder}/` ({len(manifest.get('probes', {}))} cells with numerics probes, "
             f"{manifest['wall_time_s'] / 60:.0f} min on {manifest['machine']['cpu_count']} CPUs); the full report "
             f"with the paper's claims, learning curves and the bridge is `{folder}/REPORT.md`. Every run stops by "
             "early stopping on valid Recall@20 ("
             + "; ".join(f"patience {p}, cap {e} epochs" for e, p in sorted(budgets))
             + "). Test metrics at the best valid epoch; mean ± sample std over seeds where several; Δ is the "
             "difference to `paper` paired by seed, with its 95% t-interval (one common seed: no interval).",
             seeds_line(rows), "", *summary_lines(rows, main), *warmup_stop_lines(rows, manifest["budgets"])]
    for dataset in manifest["datasets"]:
        if f"{dataset}/ablation" in tables:
            lines += ["", f"### {dataset}", "", tables[f"{dataset}/ablation"]]
        if tables.get(f"{dataset}/bridge"):
            lines += ["", f"The bridge on {dataset}: each of the paper's departures from MGCN, added to `mgcn` and "
                      "taken out of `paper` (Δ test Recall@20 of the model with the part over it without, paired by "
                      "seed, 95% CI):", "", tables[f"{dataset}/bridge"]]
        if f"{dataset}/schedules" in tables:
            lines += ["", f"Schedules on {dataset}, each faster one against the paper's (paired by seed):", "",
                      tables[f"{dataset}/schedules"]]
    if "scenarios" in tables:
        lines += ["", "### The scenario sweep", "", tables["scenarios"]]
    missing = missing_lines(rows)
    if missing:
        lines += ["", "### Not in this folder yet", "", *missing]
    return "\n".join(lines)


def replace_block(text: str, block: str, start: str = START, end: str = END) -> str:
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"README has no {start} ... {end} block")
    return pattern.sub(lambda _: f"{start}\n{block}\n{end}", text)


def current_block(text: str, start: str = START, end: str = END) -> str:
    m = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.S)
    return m.group(1) if m else ""


def update_readme(precomputed_dir: str | Path = DEFAULT_OUT, readme: Path = README) -> Path:
    readme.write_text(replace_block(readme.read_text(), results_block(precomputed_dir)))
    return readme


def add_readme_command(subparsers) -> None:
    p = subparsers.add_parser("readme", help="rewrite README.md's results block from precomputed/",
                              description=f"Rewrite, in place, the results block of {README} (between its markers) "
                                          "from a precomputed folder; the rest of the file is left as it is. "
                                          "`git diff README.md` shows what moved.")
    p.add_argument("--precomputed", default=DEFAULT_OUT,
                   help="the precomputed folder to read (`python -m mambarec precompute --out`) [default: %(default)s]")
    p.set_defaults(func=lambda args: print(update_readme(args.precomputed)) or 0)
