"""Every command block of README.md and docs/*.md runs, so a documented command cannot silently break.

What is checked, per fenced block:

* ```` ```python ````: the block runs on its own in a fresh interpreter (cwd a temporary
  directory), as a reader pastes it.
* ```` ```bash ````: every command line must match a rule of :data:`RULES` (a block with a command
  no rule knows FAILS: add a rule when you document a new command). Each ``tinvnn`` command is
  parsed by :func:`tinvnn.cli.build_parser` (a renamed flag or a bad choice fails at once), each
  ``python benchmarks/X.py`` command has its flags checked against the script's ``--help``;
  then the block's commands run in order, in one temporary directory, with the rule's tiny
  settings appended (argparse keeps the last value of a repeated flag). Rules that cannot run in
  a test (virtual environments, torchrun, hours of training, downloads) say why.
* An unlabelled block (or ``sh`` / ``console``) that holds a command fails: label it ``bash``.

Commands that need ``$TINVNN_DATA`` skip their block's run when the data directory is absent;
blocks with a long command are marked slow (``pytest -m slow tests/test_docs.py``). Every link
to another file of the docs must point at a file that exists.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import re
import runpy
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tinvnn.paths import data_dir

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^[ \t]*```([\w+-]*)[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)
COMMAND_LIKE = re.compile(r"^\s*(\$ )?(tinvnn|python|make|pip|torchrun|OMP_NUM_THREADS=|TINVNN_\w+=)\b", re.M)
RUN_TIMEOUT = 600


# ---------------------------------------------------------------------------------------------
# The rules: what each documented command is, and how the test runs it on tiny settings.


def _shape_files(argv: list[str], cwd: Path) -> None:
    """Point files a ``classify`` example names but a test directory lacks: random clouds."""
    rng = np.random.default_rng(0)
    for arg in argv:
        path = cwd / arg
        if arg.startswith("-") or path.exists():
            continue
        pts = rng.normal(size=(300, 3)) * np.array([3.0, 2.0, 1.0])
        if path.suffix in (".xyz", ".txt", ".csv"):
            sep = "," if path.suffix == ".csv" else " "
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(sep.join(f"{v:.6f}" for v in p) for p in pts) + "\n")
        elif path.suffix == ".npy":
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, pts)
        elif path.suffix == ".off":  # a tetrahedron
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("OFF\n4 4 0\n0 0 0\n3 0 0\n0 2 0\n0 0 1\n3 0 1 2\n3 0 1 3\n3 0 2 3\n3 1 2 3\n")


@dataclass(frozen=True)
class Rule:
    """How the test treats commands starting with ``prefix`` (tokens, after env assignments)."""

    prefix: tuple[str, ...]
    tiny: str = ""  # flags appended when the command runs
    run: bool = True  # run it (after parsing); False: parse only, with `why`
    why: str = ""  # why it does not run
    data: bool = False  # needs $TINVNN_DATA
    slow: bool | Callable[[list[str]], bool] = False
    setup: Callable[[list[str], Path], None] | None = None

    def is_slow(self, argv: list[str]) -> bool:
        return self.slow(argv) if callable(self.slow) else self.slow


_TRAIN = "--no-progress --threads 1 --overwrite"
_CLOUDS = "--dataset synthetic --per-class 2 --test-per-class 1 --points 32 --width 16 --batch-size 8"
_NBODY_DATA = "--data-n-train 20 --data-n-val 10 --data-n-test 10 --hidden 8"
_BENCHMARK = "a benchmark: minutes to hours; its flags are checked against its --help"


def _large_tsp(argv: list[str]) -> bool:
    return any("tsplib-large" in a or "1000" in a for a in argv)


RULES: list[Rule] = [
    # set-up and shell
    Rule(("make", "demo"), run=False, why="builds .venv; what it runs, `tinvnn demo`, is a rule below"),
    Rule(("make", "test"), run=False, why="builds .venv and runs the whole suite, this test included"),
    Rule(("pip", "install"), run=False, why="installs packages"),
    Rule(("git", "worktree"), run=False, why="checks out an old commit for a before/after timing"),
    Rule(("mkdir", "-p")),
    Rule(("torchrun",), run=False, why="several processes; the `tinvnn` command it wraps is parsed"),
    # the command line
    Rule(("tinvnn", "demo"), tiny="--epochs 1 --no-progress --threads 1", slow=True),
    Rule(("tinvnn", "train"), tiny=f"{_CLOUDS} --epochs 1 --eval-every 1 {_TRAIN}", slow=True),
    Rule(("tinvnn", "eval"), tiny="--no-progress --threads 1", slow=True),
    Rule(("tinvnn", "audit"), tiny="--clouds 2 --trials 1 --no-progress --threads 1", slow=True),
    Rule(("tinvnn", "sweep-angle"), tiny="--no-progress --threads 1", slow=True),
    Rule(("tinvnn", "classify"), tiny="--no-progress --threads 1", setup=_shape_files),
    Rule(("tinvnn", "data", "convert"), run=False, why="needs a ModelNet40 download (test_convert.py makes its own)"),
    Rule(("tinvnn", "tsp", "solve"), tiny="--no-plot", data=True, slow=_large_tsp),
    Rule(("tinvnn", "tsp", "eval"), tiny="--num 2", slow=True),
    Rule(
        ("tinvnn", "tsp", "train"),
        tiny=f"--steps 2 --steps-per-epoch 2 --batch-size 2 --val-instances 2 {_TRAIN}",
        slow=True,
    ),
    Rule(("tinvnn", "tsp", "imitate"), run=False, why="generates LKH-3 tours first (about 1 h on one core)"),
    Rule(
        ("tinvnn", "tsp", "finetune"),
        tiny=f"--epochs 1 --steps-per-epoch 1 --starts 2 --min-cities 20 --max-cities 30 --val-instances 1 {_TRAIN}",
        slow=True,
    ),
    Rule(("tinvnn", "nbody", "train"), tiny=f"--epochs 1 {_NBODY_DATA} {_TRAIN}", slow=True),
    Rule(("tinvnn", "nbody", "eval"), tiny="--trials 1 --no-progress --threads 1", slow=True),
    # benchmark scripts
    Rule(("python", "benchmarks/bench_tsp_local.py", "instance")),  # writes one random instance
    *(
        Rule(("python", f"benchmarks/{script.name}"), run=False, why=_BENCHMARK)
        for script in sorted((ROOT / "benchmarks").glob("*.py"))
    ),
]


# ---------------------------------------------------------------------------------------------
# Reading the docs.


@dataclass
class Block:
    doc: Path
    line: int
    lang: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


@dataclass
class Command:
    line: int
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    rule: Rule | None = None


def blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for m in FENCE.finditer(text):
            body = textwrap.dedent(m.group(2))
            found.append(Block(doc, text.count("\n", 0, m.start()) + 1, m.group(1).lower(), body))
    return found


def _expand(token: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), token)


def commands(block: Block, env: dict[str, str]) -> Iterator[Command]:
    """The block's commands: continuation lines joined, comments dropped, `export`s applied."""
    lines = block.text.replace("\\\n", " ").split("\n")
    for offset, line in enumerate(lines):
        tokens = shlex.split(line, comments=True)
        if not tokens:
            continue
        if tokens[0] == "export":
            for assign in tokens[1:]:
                key, _, value = assign.partition("=")
                env[key] = _expand(value, env)
            continue
        local: dict[str, str] = {}
        while tokens and re.fullmatch(r"\w+=.*", tokens[0]):
            key, _, value = tokens.pop(0).partition("=")
            local[key] = _expand(value, env)
        if tokens[:1] == ["/usr/bin/time"]:
            tokens = tokens[3:] if tokens[1:2] == ["-f"] else tokens[1:]
        argv = [_expand(t, {**env, **local}) for t in tokens]
        rule = max(
            (r for r in RULES if tuple(argv[: len(r.prefix)]) == r.prefix), key=lambda r: len(r.prefix), default=None
        )
        yield Command(block.line + 1 + offset, argv, local, rule)


def _base_env() -> dict[str, str]:
    return {"TINVNN_DATA": str(data_dir()), "HOME": os.environ.get("HOME", "")}


ALL = blocks()
BASH = [b for b in ALL if b.lang == "bash"]
PYTHON = [b for b in ALL if b.lang == "python"]
OTHER = [b for b in ALL if b.lang not in ("bash", "python")]


def _is_slow(block: Block) -> bool:
    return any(c.rule is not None and c.rule.run and c.rule.is_slow(c.argv) for c in commands(block, _base_env()))


# ---------------------------------------------------------------------------------------------
# Parsing.


def _tinvnn_argv(argv: list[str]) -> list[str] | None:
    if argv[:1] == ["tinvnn"]:
        return argv[1:]
    if argv[:1] == ["torchrun"] and "tinvnn" in argv:  # torchrun ... -m tinvnn ARGS
        return argv[argv.index("tinvnn") + 1 :]
    return None


@functools.cache
def _parser() -> argparse.ArgumentParser:
    from tinvnn.cli import build_parser

    return build_parser()


def _parse_tinvnn(args: list[str]) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            _parser().parse_args(args)
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                raise AssertionError(err.getvalue().strip()) from None


_HELP: dict[tuple[str, ...], str] = {}


def _script_help(script: str, sub: str | None) -> str:
    """``python SCRIPT [SUB] --help``, run in this process (the imports are already paid for), with
    the script's folder first on ``sys.path`` as ``python SCRIPT`` has it (benchmarks import each other)."""
    key = (script, sub or "")
    if key not in _HELP:
        out, argv, path = io.StringIO(), sys.argv, list(sys.path)
        sys.argv = [str(ROOT / script), *([sub] if sub else []), "--help"]
        sys.path.insert(0, str((ROOT / script).parent))
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                runpy.run_path(str(ROOT / script), run_name="__main__")
        except SystemExit as exit_:
            assert exit_.code in (0, None), f"{script} --help exited {exit_.code}"
        except Exception as err:  # an import error of the script: the command cannot run
            raise AssertionError(f"{script} --help failed: {type(err).__name__}: {err}") from None
        finally:
            sys.argv, sys.path[:] = argv, path
        _HELP[key] = out.getvalue()
    return _HELP[key]


def _check_script_flags(argv: list[str]) -> None:
    script = argv[1]
    top = _script_help(script, None)
    word = argv[2] if len(argv) > 2 and not argv[2].startswith("-") else None
    sub = word if word is not None and re.search(r"\{[\w,-]*\b" + re.escape(word) + r"\b", top) else None
    text = _script_help(script, sub) if sub else top
    for arg in argv[2:]:
        flag = arg.split("=")[0]
        if flag.startswith("--") and not re.search(rf"(^|[\s\[,]){re.escape(flag)}\b", text):
            raise AssertionError(f"{script}{' ' + sub if sub else ''} has no flag {flag}")


def _parse(cmd: Command) -> None:
    assert cmd.rule is not None
    args = _tinvnn_argv(cmd.argv)
    if args is not None:
        _parse_tinvnn(args)
    elif cmd.argv[:1] == ["python"] and cmd.argv[1].startswith("benchmarks/"):
        _check_script_flags(cmd.argv)


# ---------------------------------------------------------------------------------------------
# Running.


def _subprocess_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    return env


def _absolute(token: str, cwd: Path) -> str:
    """Repository files a command names (checkpoints, scripts) stay reachable from the test directory."""
    if token.startswith(("tinvnn/", "benchmarks/")) and (ROOT / token).exists():
        return str(ROOT / token)
    return token


def _run(cmd: Command, cwd: Path, env: dict[str, str]) -> None:
    assert cmd.rule is not None
    argv = [_absolute(t, cwd) for t in cmd.argv]
    if cmd.rule.setup is not None:
        cmd.rule.setup(argv, cwd)
    if argv[0] == "tinvnn":
        argv = [sys.executable, "-m", "tinvnn", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    argv += shlex.split(cmd.rule.tiny)
    run_env = {**_subprocess_env(cwd), **env, **cmd.env}
    done = subprocess.run(argv, cwd=cwd, env=run_env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, (
        f"line {cmd.line}: {shlex.join(cmd.argv)}\nexit {done.returncode}\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    )


# ---------------------------------------------------------------------------------------------
# The tests.


@pytest.mark.parametrize("block", BASH, ids=[b.id for b in BASH])
def test_bash_block_commands_are_known_and_parse(block: Block) -> None:
    failures = []
    for cmd in commands(block, _base_env()):
        if cmd.rule is None:
            failures.append(f"line {cmd.line}: no rule in tests/test_docs.py RULES for: {shlex.join(cmd.argv)}")
            continue
        try:
            _parse(cmd)
        except AssertionError as err:
            failures.append(f"line {cmd.line}: {shlex.join(cmd.argv)}\n    {err}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "block", [pytest.param(b, marks=[pytest.mark.slow] if _is_slow(b) else [], id=b.id) for b in BASH]
)
def test_bash_block_runs_on_tiny_settings(block: Block, tmp_path: Path) -> None:
    env = _base_env()
    cmds = list(commands(block, env))
    if any(c.rule is None for c in cmds):
        pytest.fail("a command without a rule (see the parse test)")
    runnable = [c for c in cmds if c.rule is not None and c.rule.run]
    if not runnable:
        pytest.skip("; ".join(sorted({c.rule.why for c in cmds if c.rule is not None})))
    if any(c.rule is not None and c.rule.data for c in runnable) and not data_dir().is_dir():
        pytest.skip(f"data directory {data_dir()} not found (set TINVNN_DATA)")
    for cmd in runnable:
        _run(cmd, tmp_path, env)


@pytest.mark.parametrize("block", PYTHON, ids=[b.id for b in PYTHON])
def test_python_block_runs(block: Block, tmp_path: Path) -> None:
    if "TINVNN_DATA" in block.text and not data_dir().is_dir():
        pytest.skip(f"data directory {data_dir()} not found (set TINVNN_DATA)")
    script = tmp_path / "block.py"
    script.write_text(block.text)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=_subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, f"{block.id}\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("block", OTHER, ids=[b.id for b in OTHER])
def test_other_blocks_hold_no_commands(block: Block) -> None:
    assert block.lang not in ("sh", "shell", "console", "zsh") and not COMMAND_LIKE.search(block.text), (
        f"{block.id}: a command in a ```{block.lang} block escapes this test: label it ```bash"
    )


def test_every_doc_has_been_read() -> None:
    assert (ROOT / "README.md") in DOCS and len(DOCS) > 1 and BASH and PYTHON


LINK = re.compile(r"\]\(([^)\s#]*)(?:#([^)\s]*))?\)")


def _anchors(doc: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    text = FENCE.sub("", doc.read_text())
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in re.findall(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_links_to_docs_exist(doc: Path) -> None:
    """Links to files of the repository point at files that exist, and at headings that exist."""
    bad = []
    for target, anchor in LINK.findall(doc.read_text()):
        if target.startswith(("http:", "https:", "mailto:")):
            continue
        path = doc.parent / target if target else doc
        if not path.exists():
            bad.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            bad.append(f"{target}#{anchor}: no such heading")
    assert not bad, f"{doc.relative_to(ROOT)}: " + "; ".join(bad)


def test_the_rules_parse_themselves() -> None:
    """The tiny settings are themselves valid flags of their commands (so a rule cannot rot)."""
    for rule in RULES:
        if rule.prefix[0] == "tinvnn" and rule.tiny and rule.run:
            positional = (
                ["x"]
                if rule.prefix[1:]
                not in (
                    ("demo",),
                    ("train",),
                    ("tsp", "eval"),
                    ("tsp", "train"),
                    ("tsp", "finetune"),
                    ("nbody", "train"),
                )
                else []
            )
            _parse_tinvnn([*rule.prefix[1:], *positional, *shlex.split(rule.tiny)])
