"""`path_glob` filters as SQL, with exactly the `fnmatch` semantics of the Python filter.

A glob matches a catalogued path if it matches the full path or the file name (`glob_match`).
`glob_where` turns it into a WHERE fragment for the catalog: SQLite's GLOB operator (in C, no row
leaves SQLite unless it matches) wherever the translation is exact, else a call of the registered
Python function `rf_glob` (the old filter itself, still evaluated inside the query, so LIMIT,
OFFSET and COUNT stay in SQL). Differences handled here: fnmatch negates sets with `[!...]` while
GLOB uses `[^...]`; fnmatch reads an unclosed `[` as a literal; ranges and sets starting with `^`
are left to the fallback rather than risking a subtly different match.
"""

from __future__ import annotations

import fnmatch

# The file name of `path` in SQL: what follows the last '/' (rtrim strips the trailing run of
# characters that are not '/'; `length` and `substr` count characters, as Python does).
NAME_SQL = "substr(path, length(rtrim(path, replace(path, '/', ''))) + 1)"


def glob_match(path: str, pattern: str) -> bool:
    """A glob matches the full path or the file name."""
    return fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern)


def sqlite_glob(pattern: str) -> str | None:
    """The SQLite GLOB pattern matching exactly what fnmatch matches, or None if unsure."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c in "*?":
            out.append(c)
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append("[[]")  # unclosed: a literal '[' in fnmatch
                continue
            stuff = pattern[i:j]
            negate = stuff.startswith("!")
            body = stuff[1:] if negate else stuff
            if not body or "-" in body or (not negate and body.startswith("^")):
                return None
            out.append("[" + ("^" if negate else "") + body + "]")
            i = j + 1
        else:
            out.append(c)
    return "".join(out)


def glob_where(pattern: str) -> tuple[str, list[str]]:
    """(WHERE fragment, parameters) selecting rows whose path or file name matches `pattern`."""
    g = sqlite_glob(pattern)
    if g is None:
        return "rf_glob(path, ?)", [pattern]
    if g.startswith("*"):
        # A leading '*' also absorbs the folders: whatever matches the file name matches the path.
        return "path GLOB ?", [g]
    return f"(path GLOB ? OR {NAME_SQL} GLOB ?)", [g, g]
