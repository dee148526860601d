"""`make bench BENCH_ARGS="--baseline REF ..."`: the same benchmarks on an older commit and on this tree, back to back.

The older commit's code is exported (`git archive`) to `.bench-baseline/<sha>/` and this tree's benchmark
harness is copied over its own, so both versions are measured by the same harness, on the same database
server, one right after the other: the baseline first, then this tree. One table shows both and the ratio
(this tree / baseline); `benchmarks/results/compare.json` keeps it, with each run's load averages. Ratios
from one run are what to compare: absolute numbers on this kind of machine drift by 10-20% between runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from benchmarks.database import RESULTS, ROOT

SCRATCH = ROOT / ".bench-baseline"


def _strip_baseline(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--baseline":
            skip = True
        elif not arg.startswith("--baseline="):
            out.append(arg)
    return [arg for arg in out if not arg.startswith("--json")]


def export_commit(ref: str) -> tuple[str, Path]:
    """The commit's tree at .bench-baseline/<sha>, with this tree's benchmark harness in it."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if sha.returncode != 0:
        raise SystemExit(f"--baseline {ref}: not a commit here ({sha.stderr.strip()})")
    sha_text = sha.stdout.strip()
    tree = SCRATCH / sha_text[:12]
    if not (tree / "manage.py").exists():
        tree.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile() as archive:
            subprocess.run(["git", "archive", sha_text], cwd=ROOT, stdout=archive, check=True)
            archive.seek(0)
            with tarfile.open(fileobj=archive) as tar:
                tar.extractall(tree, filter="data")
    harness = tree / "benchmarks"
    for source in (ROOT / "benchmarks").glob("*.py"):
        shutil.copy2(source, harness / source.name)
    return sha_text[:12], tree


def _run(tree: Path, args: list[str], out: Path, *, commit: str | None = None) -> int:
    print(f"\n=== {tree if tree != ROOT else 'this tree'}: benchmarks/run.py {' '.join(args)}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if commit:
        env["BENCH_GIT_COMMIT"] = commit
    return subprocess.run(
        [sys.executable, str(tree / "benchmarks" / "run.py"), *args, "--json", str(out)], cwd=tree, env=env
    ).returncode


def compare_with(ref: str, argv: list[str]) -> int:
    args = _strip_baseline(argv)
    sha, tree = export_commit(ref)
    base_json, this_json = RESULTS / f"baseline-{sha}.json", RESULTS / "latest.json"
    codes = [_run(tree, args, base_json, commit=sha), _run(ROOT, args, this_json)]
    base, this = json.loads(base_json.read_text()), json.loads(this_json.read_text())
    rows = compare(base, this)
    print()
    print(render(rows, base=base, this=this))
    (RESULTS / "compare.json").write_text(
        json.dumps(
            {
                "baseline": {k: base[k] for k in ("git_commit", "date", "database", "machine")},
                "this": {k: this[k] for k in ("git_commit", "date", "database", "machine")},
                "rows": rows,
            },
            indent=2,
        )
    )
    return max(codes)


def compare(base: dict, this: dict) -> list[dict]:
    before = {m["key"]: m for m in base["metrics"]}
    rows = []
    for metric in this["metrics"]:
        old = before.get(metric["key"], {}).get("value")
        new = metric["value"]
        ratio = round(new / old, 2) if isinstance(new, int | float) and isinstance(old, int | float) and old else None
        rows.append(
            {
                "key": metric["key"],
                "label": metric["label"],
                "unit": metric["unit"],
                "baseline": old,
                "this": new,
                "ratio": ratio,
            }
        )
    return rows


def render(rows: list[dict], *, base: dict, this: dict) -> str:
    def shown(value) -> str:
        if value is None:
            return "n/a"
        if isinstance(value, float):
            return f"{value:,.1f}" if abs(value) >= 100 else f"{value:,.2f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    table = [("metric", "unit", f"baseline {base['git_commit']}", f"this {this['git_commit']}", "this / baseline")]
    table += [(r["label"], r["unit"], shown(r["baseline"]), shown(r["this"]), shown(r["ratio"])) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    lines = [
        "| "
        + " | ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        + " |"
        for row in table
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    loads = (
        f"load averages: baseline {base['machine'].get('load_average_at_start')} -> "
        f"{base['machine'].get('load_average_at_end')}, this {this['machine'].get('load_average_at_start')} -> "
        f"{this['machine'].get('load_average_at_end')}"
    )
    return "\n".join([f"Back to back on {this['database']}", "", *lines, "", loads])
