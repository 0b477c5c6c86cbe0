"""Inputs and outputs tables of a Terraform module's README, generated from its code
(terraform-docs' markdown table layout), between the markers

    <!-- BEGIN_TF_DOCS -->
    <!-- END_TF_DOCS -->

Usage:
    python module_docs.py MODULE_DIR            # exit 1 and show a diff when README.md is stale
    python module_docs.py --write MODULE_DIR    # rewrite the tables in README.md

tests/infra/check.sh runs the first form, so the README cannot drift from variables.tf
and outputs.tf. terraform-docs itself is not installable offline here.
"""

import difflib
import json
import re
import sys
from pathlib import Path

import hcl2

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def one(value):
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def text(value) -> str:
    """A description or expression as written: interpolation markers and the parser's
    leftover escapes removed, pipes escaped for the table."""
    s = str(value)
    s = re.sub(r"^\$\{(.*)\}$", r"\1", s, flags=re.S)
    s = s.replace('\\"', '"')
    return s.replace("|", "\\|").replace("\n", " ")


def default_cell(body) -> str:
    if "default" not in body:
        return "n/a"
    # The parser wraps every attribute value in a one-element list: unwrap exactly once,
    # so a list default stays a list.
    value = body["default"]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None:
        return "`null`"
    if isinstance(value, str) and not value.startswith("${"):
        return f'`"{value}"`'
    if isinstance(value, (dict, list)):
        return f"`{json.dumps(value)}`" if value else ("`{}`" if isinstance(value, dict) else "`[]`")
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{text(value)}`"


def blocks(path: Path, kind: str) -> list[tuple[str, dict]]:
    with path.open() as fh:
        doc = hcl2.load(fh)
    out = []
    for block in doc.get(kind, []):
        for name, body in block.items():
            out.append((name, body))
    return sorted(out)


def tables(module: Path) -> str:
    lines = ["## Inputs", "", "| Name | Description | Type | Default | Required |",
             "|------|-------------|------|---------|:--------:|"]
    for name, body in blocks(module / "variables.tf", "variable"):
        required = "no" if "default" in body else "yes"
        lines.append(f"| {name} | {text(one(body.get('description', '')))} | `{text(one(body.get('type', 'any')))}` "
                     f"| {default_cell(body)} | {required} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for name, body in blocks(module / "outputs.tf", "output"):
        lines.append(f"| {name} | {text(one(body.get('description', '')))} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    write = "--write" in argv
    args = [a for a in argv if a != "--write"]
    if len(args) != 1:
        print(__doc__)
        return 2
    module = Path(args[0])
    readme = module / "README.md"
    current = readme.read_text()
    if BEGIN not in current or END not in current:
        print(f"{readme}: the markers {BEGIN} / {END} are missing")
        return 1
    head, rest = current.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    wanted = f"{head}{BEGIN}\n{tables(module)}\n{END}{tail}"
    if wanted == current:
        print(f"{readme}: inputs and outputs tables up to date")
        return 0
    if write:
        readme.write_text(wanted)
        print(f"{readme}: tables rewritten")
        return 0
    sys.stdout.writelines(difflib.unified_diff(current.splitlines(True), wanted.splitlines(True),
                                               str(readme), "generated"))
    print(f"\n{readme} is stale: python tests/infra/module_docs.py --write {module}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
