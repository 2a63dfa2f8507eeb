"""Runs every test of the workspace, test binaries side by side (`make test`).

`cargo test` runs its test binaries one after the other. Ours differ: the integration binary
keeps both cores busy for most of a minute, while a few others spend seconds in one thread
(a zip bomb inflated, a 200 MiB archive read) and leave the second core idle. Here the binaries
cargo built run `--jobs` at a time (default: one per core), the longest known first (durations
of the last run, in target/test-durations.json; the integration binary first on a clean clone),
each as cargo would run it (working directory and CARGO_MANIFEST_DIR = its package), with
`--nocapture`; then the doc tests. Nothing is skipped and nothing stops early: every binary
runs, and the exit status is 1 if any test failed.

Each binary's output is printed and appended to `--log` whole, when it ends, with cargo's own
"Running" header, so one binary's lines never interleave with another's (the personal-data scan
reads that log).

Usage: python tools/run_tests.py [--jobs N] --log FILE
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

ROOT = Path(__file__).resolve().parent.parent
DURATIONS = ROOT / "target" / "test-durations.json"
# Lines the console does not need (the product's JSON logs); the log file keeps them.
QUIET_PREFIX = '{"timestamp":'


@dataclass
class Job:
    name: str  # as cargo's "Running" line names it: source (kind) and executable
    key: str  # the same binary across builds: its source and package, not its hashed file
    command: list[str]
    cwd: Path
    env: dict[str, str]


def test_binaries() -> list[Job]:
    """Builds the tests (as `cargo test --no-run`) and lists the binaries cargo made."""
    build = subprocess.run(
        ["cargo", "test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    if build.returncode != 0:
        sys.exit(f"run_tests: the test build failed (cargo exit {build.returncode})")
    jobs = []
    for line in build.stdout.splitlines():
        message = json.loads(line)
        if message.get("reason") != "compiler-artifact" or not message["profile"]["test"]:
            continue
        executable = message.get("executable")
        if executable is None:
            continue
        package_dir = Path(message["manifest_path"]).parent
        source = Path(message["target"]["src_path"]).relative_to(package_dir)
        kind = message["target"]["kind"][0]
        label = f"{source}" if kind == "test" else f"unittests {source}"
        jobs.append(
            Job(
                name=f"{label} ({executable})",
                key=f"{label} in {package_dir.relative_to(ROOT)}",
                command=[executable, "--nocapture"],
                cwd=package_dir,
                env=dict(os.environ, CARGO_MANIFEST_DIR=str(package_dir)),
            )
        )
    return jobs


def doc_tests() -> Job:
    return Job(
        name="doc tests (cargo test --workspace --doc)",
        key="doc tests",
        command=["cargo", "test", "--workspace", "--doc", "--", "--nocapture"],
        cwd=ROOT,
        env=dict(os.environ),
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--log", required=True, type=Path)
    args = parser.parse_args()

    jobs = test_binaries()
    known = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}

    def expected(job: Job) -> float:
        # Unknown binaries: the integration binary is the long one; the rest after it.
        return known.get(job.key, 1000.0 if job.key.startswith("integration/main.rs") else 0.0)

    jobs.sort(key=expected, reverse=True)
    jobs.append(doc_tests())

    args.log.parent.mkdir(parents=True, exist_ok=True)
    log = args.log.open("w")
    lock = Lock()
    durations: dict[str, float] = {}
    failed: list[str] = []
    totals = {"passed": 0, "failed": 0, "ignored": 0}

    def run(job: Job) -> None:
        started = time.monotonic()
        with tempfile.TemporaryFile(mode="w+") as out:
            status = subprocess.run(
                job.command, cwd=job.cwd, env=job.env, stdout=out, stderr=subprocess.STDOUT
            ).returncode
            out.seek(0)
            text = out.read()
        elapsed = time.monotonic() - started
        with lock:
            header = f"     Running {job.name} [{elapsed:.1f} s]\n"
            log.write(header + text)
            log.flush()
            sys.stdout.write(header)
            sys.stdout.writelines(
                line for line in text.splitlines(keepends=True) if not line.startswith(QUIET_PREFIX)
            )
            sys.stdout.flush()
            durations[job.key] = elapsed
            for line in text.splitlines():
                if line.startswith("test result: "):
                    words = line.replace(";", "").split()
                    for count, what in zip(words, words[1:]):
                        if what in totals and count.isdigit():
                            totals[what] += int(count)
            if status != 0:
                failed.append(job.name)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for _ in pool.map(run, jobs):
            pass
    log.close()
    DURATIONS.write_text(json.dumps(durations, indent=1, sort_keys=True))

    counts = ", ".join(f"{n} {what}" for what, n in totals.items())
    if failed:
        print(f"\nrun_tests: {counts}; failing:", *failed, sep="\n  ")
        return 1
    print(f"\nrun_tests: {counts} ({len(jobs) - 1} test binaries and the doc tests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
