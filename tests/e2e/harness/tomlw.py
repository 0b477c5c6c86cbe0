"""A small TOML writer for the proxy's config (dicts, lists of tables, scalars, arrays)."""
from __future__ import annotations

import json
import re

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_val(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML: {v!r}")


def _is_table_array(v) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(isinstance(x, dict) for x in v)


def dumps(doc: dict) -> str:
    lines: list[str] = []

    def table(prefix: str, tbl: dict, header: str | None) -> None:
        scalars = [(k, v) for k, v in tbl.items() if not isinstance(v, dict) and not _is_table_array(v)]
        if header and (scalars or not tbl or header.startswith("[[")):
            lines.append("")
            lines.append(header)
        for k, v in scalars:
            lines.append(f"{_key(k)} = {_val(v)}")
        for k, v in tbl.items():
            p = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if isinstance(v, dict):
                table(p, v, f"[{p}]")
            elif _is_table_array(v):
                for item in v:
                    table(p, item, f"[[{p}]]")

    table("", doc, None)
    return "\n".join(lines).lstrip("\n") + "\n"
