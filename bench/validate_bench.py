#!/usr/bin/env python3
"""The import's per-row Python work: read, map and validate, in CPU µs per row.

    flock /tmp/bench.lock .venv/bin/python bench/validate_bench.py               # 200,000 rows
    .venv/bin/python bench/validate_bench.py --rows 20000 --repeat 1            # a quick look
    flock /tmp/bench.lock .venv/bin/python bench/validate_bench.py --profile    # + cProfile of "after"

No servers: the pure-Python part of an import (pipeline.py's reader thread).

1. The file is import_bench.py's (the same generator: header employee_id,
   first_name, last_name, email, department, job_title, hire_date, status;
   ~2% invalid rows, ~2% repeating an earlier employee_id), generated once
   into bench/out/import-data/ and reused.
2. "before" is the employee_app of the --before revision (default: the
   commit issue 11's validation work started from), taken out with
   `git archive` into bench/out/validate-bench/<commit>/; "after" is this
   checkout's.
3. Each side runs in child processes of its own, before and after
   alternating, --repeat times; the best run of each is shown (the machine
   is shared: the best run is the least disturbed). A child first runs
   every row once and keeps each outcome, so that before and after are
   compared row by row (a digest of every accepted value and every
   message), then times three passes over the file with
   time.process_time(), each reading it in batches of --batch rows as
   pipeline.py does (0: row by row, as soon as read):
   - read:     files.read_records,
   - read+map: and mapping.mapped_record of each row (the mapping the
               header suggests),
   - together: and employee_rules.clean_employee of each mapped row, as
               pipeline._validate runs them;
   map and validate are the differences.
"""
import argparse
import hashlib
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "validate-bench"
BATCH_ROWS = 5_000  # pipeline.BATCH_ROWS
DEFAULT_BEFORE = "82137c2"  # the commit issue 11's validation work started from
STAGES = ("read", "map", "validate", "together")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side; the best is shown")
    parser.add_argument("--batch", type=int, default=BATCH_ROWS, help="rows read before they are handled (0: one)")
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="the git revision measured as 'before'")
    parser.add_argument("--profile", action="store_true", help="then cProfile one 'after' run (together)")
    parser.add_argument("--child", nargs=2, metavar=("CODE_ROOT", "CSV"), help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child[0]).resolve(), args.child[1], args.child_profile, args.batch)

    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(0, str(ROOT))
    from import_bench import generate

    csv_path, _, expected = generate(args.rows, args.seed)
    sides = {f"before ({args.before})": checkout(args.before), "after (this checkout)": ROOT}
    results: dict[str, list[dict]] = {name: [] for name in sides}
    for run in range(args.repeat):
        for name, code_root in sides.items():
            result = run_child(code_root, csv_path, args.batch)
            results[name].append(result)
            print(f"  run {run + 1}, {name}: " + ", ".join(f"{s} {result[s]:.2f}" for s in STAGES), flush=True)

    best = {name: {stage: min(r[stage] for r in runs) for stage in STAGES} for name, runs in results.items()}
    digests = {r["digest"] for runs in results.values() for r in runs}
    first = next(iter(results.values()))[0]
    batching = f"in batches of {args.batch:,} rows" if args.batch else "row by row"
    print(f"\n{first['rows']:,} rows read after the header ({first['invalid']:,} refused by the rules; the "
          f"generator made {expected['invalid']:,} invalid), {batching}. CPU µs per row, best of {args.repeat}:")
    print(f"{'':24}" + "".join(f"{stage:>11}" for stage in STAGES) + f"{'map+validate':>14}")
    for name, stages in best.items():
        print(f"{name:24}" + "".join(f"{stages[stage]:11.2f}" for stage in STAGES)
              + f"{stages['map'] + stages['validate']:14.2f}")
    before, after = best.values()
    print(f"{'before / after':24}" + "".join(f"{before[s] / after[s]:10.1f}×" for s in STAGES)
          + f"{(before['map'] + before['validate']) / (after['map'] + after['validate']):13.1f}×")
    print("Same outcome for every row, before and after:", "yes" if len(digests) == 1 else "NO")
    if args.profile:
        print("\ncProfile of one 'after' run (read + map + validate), top 15 by own time:", flush=True)
        subprocess.run([sys.executable, __file__, "--child", str(ROOT), str(csv_path), "--child-profile",
                        "--batch", str(args.batch)], check=True)
    return 0 if len(digests) == 1 else 1


def checkout(revision: str) -> Path:
    """employee_app as it was at revision, under bench/out/validate-bench/."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.strip()
    target = OUT / commit[:12]
    if not (target / "employee_app").exists():
        archive = subprocess.run(["git", "archive", "--format=tar", commit, "employee_app"], cwd=ROOT,
                                 capture_output=True, check=True).stdout
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(target)
    return target


def run_child(code_root: Path, csv_path: Path, batch_rows: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(code_root), str(csv_path),
                          "--batch", str(batch_rows)], capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


# --- a child: one side, one file ------------------------------------------------

def child(code_root: Path, csv_path: str, profile: bool, batch_rows: int) -> int:
    sys.path.insert(0, str(code_root))
    import time
    from itertools import islice

    from employee_app.services.employee_rules import clean_employee
    from employee_app.services.errors import InvalidInput
    from employee_app.services.importer.files import detect_format, read_records
    from employee_app.services.importer.mapping import mapped_record, suggest_mapping

    assert Path(sys.modules["employee_app"].__file__).is_relative_to(code_root), "imported the wrong employee_app"
    file_format = detect_format(csv_path)
    header = next(read_records(csv_path, file_format))[1]
    mapping = suggest_mapping(header, [], has_header=True)

    def batches():
        """The file's records after the header, batch_rows at a time (as
        pipeline.py collects them), or one by one with batch_rows 0."""
        records = read_records(csv_path, file_format)
        next(records)
        if not batch_rows:
            for record in records:
                yield (record,)
            return
        while batch := list(islice(records, batch_rows)):
            yield batch

    def read():
        for batch in batches():
            for _, cells, _ in batch:
                pass

    def read_map():
        for batch in batches():
            for _, cells, _ in batch:
                mapped_record(cells, mapping)

    def read_map_validate(outcomes=None):
        for batch in batches():
            for _, cells, _ in batch:  # as pipeline._validate
                raw, errors = mapped_record(cells, mapping)
                try:
                    if errors:
                        raise InvalidInput(errors)
                    values = clean_employee(raw)
                except InvalidInput as exc:
                    if outcomes is not None:
                        outcomes.append((False, {**exc.errors, **errors}))
                    continue
                if outcomes is not None:
                    outcomes.append((True, values))

    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(read_map_validate)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return 0

    outcomes: list = []
    read_map_validate(outcomes)  # the outcomes, to compare before and after (and warm the memos, as a long import is)
    digest = hashlib.sha256()
    for outcome in outcomes:
        digest.update(repr(outcome).encode())
    rows, invalid = len(outcomes), sum(1 for accepted, _ in outcomes if not accepted)
    del outcomes

    spent = {}
    for name, run in (("read", read), ("read+map", read_map), ("together", read_map_validate)):
        start = time.process_time()
        run()
        spent[name] = (time.process_time() - start) / rows * 1e6
    result = {"rows": rows, "invalid": invalid, "digest": digest.hexdigest(), "read": spent["read"],
              "map": spent["read+map"] - spent["read"], "validate": spent["together"] - spent["read+map"],
              "together": spent["together"]}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
