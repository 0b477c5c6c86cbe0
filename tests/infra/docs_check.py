#!/usr/bin/env python3
"""Keeps three lists in the docs in step with the code they describe.

    docs_check.py outputs REPO   every `terraform output NAME` in docs/*.md is an
                                 output of terraform/examples/elastic-beanstalk
    docs_check.py signals REPO   the signals table of docs/operations.md names exactly
                                 the signals crates/staticedge/src handles or ignores
    docs_check.py builddeps REPO deploy.md's step 0 names every package of the
                                 Makefile's BUILD_DEBS

Run by tests/infra/check.sh. Prints what differs and exits 1 when a list is out of
step; prints one `SUMMARY:` line when it is not. Standard library only.
"""

import re
import sys
from pathlib import Path

EXAMPLE = Path("terraform/examples/elastic-beanstalk")

# `terraform output NAME`, `terraform -chdir=DIR output -raw NAME`, with any flags.
OUTPUT_COMMAND = re.compile(r"\bterraform(?:\s+-chdir=\S+)?\s+output((?:\s+-[\w=-]+)*)\s+([A-Za-z_][\w-]*)")
OUTPUT_BLOCK = re.compile(r'^output\s+"([^"]+)"', re.MULTILINE)

# What tokio's SignalKind constructors stand for.
SIGNAL_KINDS = {
    "hangup": "SIGHUP",
    "interrupt": "SIGINT",
    "terminate": "SIGTERM",
    "quit": "SIGQUIT",
    "user_defined1": "SIGUSR1",
    "user_defined2": "SIGUSR2",
    "alarm": "SIGALRM",
    "child": "SIGCHLD",
    "io": "SIGIO",
    "pipe": "SIGPIPE",
    "window_change": "SIGWINCH",
}
# Taken over by `run` whatever the code's lists say; the parse must find them.
ALWAYS_HANDLED = {"SIGHUP", "SIGUSR1", "SIGTERM", "SIGQUIT", "SIGINT"}
# Rows of the table that are about signals the code leaves alone on purpose.
NOT_HANDLED_ROW = re.compile(r"^(Default action|Ignored, not logged)")


def terraform_outputs(repo: Path) -> int:
    """Every output named in the docs exists in the example's outputs.tf."""
    outputs_tf = (repo / EXAMPLE / "outputs.tf").read_text()
    defined = set(OUTPUT_BLOCK.findall(outputs_tf))
    if not defined:
        print(f"no output blocks found in {EXAMPLE}/outputs.tf")
        return 1
    named = []
    for doc in sorted((repo / "docs").glob("*.md")):
        # Inline code may wrap across lines: read the text with whitespace folded.
        text = " ".join(doc.read_text().split())
        for match in OUTPUT_COMMAND.finditer(text):
            named.append((doc.relative_to(repo), match.group(2)))
    missing = [(doc, name) for doc, name in named if name not in defined]
    for doc, name in missing:
        print(f"{doc}: `terraform output {name}`: {EXAMPLE}/outputs.tf has no output {name!r} "
              f"(it has: {', '.join(sorted(defined))})")
    if missing:
        return 1
    print(f"SUMMARY: {len(named)} commands in docs/, {len(set(n for _, n in named))} outputs, all in the example")
    return 0


def code_signals(src: Path) -> tuple[set[str], list[str]]:
    """The signals the binary's sources take over, and its list of ignored ones."""
    handled: set[str] = set()
    for path in sorted(src.rglob("*.rs")):
        text = path.read_text()
        handled.update(re.findall(r"\blibc::(SIG[A-Z0-9]+)\b", text))
        for kind in re.findall(r"\bSignalKind::([a-z_0-9]+)\(\)", text):
            if kind not in SIGNAL_KINDS:
                raise SystemExit(f"{path}: SignalKind::{kind}() is not known to {Path(__file__).name}")
            handled.add(SIGNAL_KINDS[kind])
    signals_rs = (src / "signals.rs").read_text()
    array = re.search(r"pub const IGNORED: \[\(i32, &str\); \d+\] = \[(.*?)\];", signals_rs, re.DOTALL)
    if not array:
        raise SystemExit(f"{src}/signals.rs: no `pub const IGNORED` array")
    ignored = re.findall(r"libc::(SIG[A-Z0-9]+)", array.group(1))
    return handled, ignored


def signals_table(operations_md: str) -> list[tuple[list[str], str]]:
    """The rows of the table under `## Signals`: (signals named, description)."""
    section = re.search(r"^## Signals\n(.*?)(?=^## )", operations_md, re.MULTILINE | re.DOTALL)
    if not section:
        raise SystemExit("docs/operations.md: no `## Signals` section")
    rows = []
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or cells[0] in ("Signal", "---"):
            continue
        rows.append((re.findall(r"`(SIG[A-Z0-9]+)`", cells[0]), cells[1]))
    return rows


def signals(repo: Path) -> int:
    """The table names exactly the signals the code handles or ignores."""
    handled, ignored = code_signals(repo / "crates/staticedge/src")
    problems = [f"the code parse did not find {s} (expected in crates/staticedge/src)"
                for s in sorted(ALWAYS_HANDLED - handled)]
    if not ignored:
        problems.append("the IGNORED array in signals.rs lists no signal")
    rows = signals_table((repo / "docs/operations.md").read_text())
    in_table = [s for names, _ in rows for s in names]
    problems += [f"docs/operations.md names {s} in more than one row"
                 for s in sorted({s for s in in_table if in_table.count(s) > 1})]
    documented = {s for names, text in rows if not NOT_HANDLED_ROW.match(text) for s in names}
    problems += [f"the code handles {s}; the signals table of docs/operations.md does not say what it does"
                 for s in sorted(handled - documented)]
    problems += [f"docs/operations.md says what {s} does, but crates/staticedge/src does not handle it"
                 for s in sorted(documented - handled)]
    ignored_rows = [names for names, text in rows if "`signal ignored:" in text]
    if len(ignored_rows) != 1:
        problems.append("docs/operations.md: expected one row whose text has `signal ignored: ...`")
    elif set(ignored_rows[0]) != set(ignored):
        problems.append(f"docs/operations.md's ignored row lists {sorted(ignored_rows[0])}; "
                        f"signals.rs IGNORED is {sorted(ignored)}")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"SUMMARY: {len(handled)} signals handled ({len(ignored)} of them ignored), "
          f"{len(in_table)} in the table")
    return 0


def build_packages(repo: Path) -> int:
    """Step 0 of docs/deploy.md names what `make build` installs to build."""
    makefile = (repo / "Makefile").read_text()
    line = re.search(r"^BUILD_DEBS\s*:?=\s*(.*)$", makefile, re.MULTILINE)
    if not line or not line.group(1).split():
        print("Makefile: no BUILD_DEBS line")
        return 1
    packages = line.group(1).split()
    deploy = (repo / "docs/deploy.md").read_text()
    step0 = re.search(r"^## 0\..*?(?=^## )", deploy, re.MULTILINE | re.DOTALL)
    if not step0:
        print("docs/deploy.md: no `## 0.` section")
        return 1
    missing = [p for p in packages if f"`{p}`" not in step0.group(0)]
    for package in missing:
        print(f"docs/deploy.md, step 0, does not name `{package}` (BUILD_DEBS in the Makefile)")
    if missing:
        return 1
    print(f"SUMMARY: {' '.join(packages)}")
    return 0


CHECKS = {"outputs": terraform_outputs, "signals": signals, "builddeps": build_packages}


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in CHECKS:
        print(__doc__, file=sys.stderr)
        return 2
    return CHECKS[sys.argv[1]](Path(sys.argv[2]))


if __name__ == "__main__":
    sys.exit(main())
