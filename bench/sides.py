"""The sides of a comparison: this checkout's working tree, and (with `--compare REF`) another commit checked
out with `git worktree add` into a temporary directory, removed afterwards.

Every benchmark module runs in a process of its own, with this interpreter, from a directory holding only a
link to this checkout's bench/, and with PYTHONPATH naming that directory first and then the tree whose
bridge is measured: the same benchmark code measures either bridge (and the simulator of the same tree,
which its bridge was written against). Each module says which bridge it imported; a run that imported the
wrong one is refused.

    .venv/bin/python -m bench.sides --compare HEAD~1     # say what each side would be, nothing measured
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import JSON_MARK

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent


def git(*arguments: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPOSITORY), *arguments], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ValueError(done.stderr.strip() or f"git {' '.join(arguments)} failed")
    return done.stdout.rstrip()


@dataclass(frozen=True, slots=True)
class Side:
    label: str  # "this tree", or the REF as given
    root: Path  # the tree whose bridge/ is imported
    commit: str  # abbreviated
    changed: tuple[str, ...] = ()  # files under bridge/ that differ from the commit (this tree only)

    def describe(self) -> str:
        if not self.changed:
            return f"{self.label} ({self.commit})"
        shown = ", ".join(self.changed[:8]) + (", ..." if len(self.changed) > 8 else "")
        return f"{self.label} ({self.commit} with uncommitted changes in {shown})"


def this_tree() -> Side:
    commit = git("rev-parse", "--short", "HEAD")
    # --no-optional-locks: status writes nothing, not even the index's cached file times.
    status = git("--no-optional-locks", "status", "--porcelain", "--", "bridge")
    changed = tuple(line[3:] for line in status.splitlines() if line.strip())
    return Side("this tree", REPOSITORY, commit, changed)


def resolve(ref: str) -> str:
    """The commit `ref` names, or ValueError saying it names none."""
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ValueError:
        raise ValueError(f"--compare {ref}: no such commit in {REPOSITORY}") from None


@contextmanager
def worktree(ref: str) -> Iterator[Side]:
    """`ref` checked out (detached) into a temporary directory for the duration, then removed."""
    commit = resolve(ref)
    parent = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    path = parent / "tree"
    git("worktree", "add", "--detach", "--quiet", str(path), commit)
    try:
        yield Side(ref, path, git("rev-parse", "--short", commit))
    finally:
        try:
            git("worktree", "remove", "--force", str(path))
        finally:
            shutil.rmtree(parent, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Outcome:
    data: dict[str, Any] | None
    error: str | None
    seconds: float


class Runner:
    """Runs `python -m bench.<module> ... --json` for a side and reads the line of JSON it prints."""

    def __init__(self) -> None:
        self._shim = tempfile.TemporaryDirectory(prefix="bench-shim-")
        (Path(self._shim.name) / "bench").symlink_to(HERE, target_is_directory=True)

    def close(self) -> None:
        self._shim.cleanup()

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def environment(self, side: Side) -> dict[str, str]:
        paths = [self._shim.name, str(side.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        return os.environ | {"PYTHONPATH": os.pathsep.join(paths)}

    def run(self, side: Side, module: str, arguments: Sequence[str], *, timeout: float) -> Outcome:
        started = time.monotonic()
        try:
            done = subprocess.run(
                [sys.executable, "-m", f"bench.{module}", *arguments, "--json"],
                cwd=self._shim.name,
                env=self.environment(side),
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Outcome(None, f"did not finish within {timeout:.0f} s", time.monotonic() - started)
        seconds = time.monotonic() - started
        lines = [line for line in done.stdout.splitlines() if line.startswith(JSON_MARK)]
        if done.returncode != 0 or not lines:
            problem = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            return Outcome(None, f"exit status {done.returncode}: {problem[:300]}", seconds)
        data: dict[str, Any] = json.loads(lines[-1][len(JSON_MARK) :])
        measured = Path(data["bridge"]["root"]).resolve()
        if measured != side.root.resolve():
            return Outcome(None, f"measured the bridge of {measured}, not of {side.root}", seconds)
        return Outcome(data, None, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sides", description=__doc__)
    parser.add_argument("--compare", metavar="REF", help="another commit, as git names it")
    args = parser.parse_args()
    print(this_tree().describe())
    if args.compare:
        try:
            print(f"{args.compare}: {resolve(args.compare)}")
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
