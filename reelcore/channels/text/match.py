"""Text search over on-screen lines: words and phrases, case-insensitive, tolerant of OCR slips.

OCR misreads in known ways: `0`/`O`, `1`/`l`/`I`, a dropped or doubled letter. Both the query and
the line are reduced to a canonical form before comparing: a word with letters has its
lone look-alike digits read as letters (`FL0OD` -> `flood`, `1ight` -> `light`; a run of digits
stays a number: `A017`) and `i` read as `l`;
a word of digits (with at most look-alike letters: `4O` -> `40`) is a number. Numbers must be
equal (scene 42 is not scene 24); words may differ by a small edit distance (rapidfuzz
Levenshtein: none up to 3 letters, 1 up to 7, 2 beyond). A phrase matches where the query's
words stand side by side in order; otherwise a line holding only some query words scores lower.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

_WORD = re.compile(r"\w+", re.UNICODE)
_AS_LETTER = str.maketrans({"0": "o", "1": "l", "i": "l", "5": "s"})
_LONE_DIGIT = re.compile(r"(?<!\d)[015](?!\d)")  # a look-alike digit standing alone among letters
_BY_DIGIT = re.compile(r"[oli](?=\d)|(?<=\d)[oli]")  # a look-alike letter touching a number
_AS_DIGIT = str.maketrans({"o": "0", "l": "1", "i": "1"})
_DIGITISH = set("0123456789oli")
MAX_QUERY_WORDS = 32


@dataclass(frozen=True)
class TextMatch:
    score: float  # 0..1; 1.0 = the query read exactly, as a phrase
    start: int  # character span of the matched words in the line
    end: int
    phrase: bool  # all query words side by side, in order
    words: int  # query words found


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def canonical(word: str) -> tuple[bool, str]:
    """(is a number, canonical form) of one folded word."""
    if any(c.isdigit() for c in word) and set(word) <= _DIGITISH:
        return True, word.translate(_AS_DIGIT)
    # Letters and digits: a lone look-alike digit is a letter misread (FL0OD); a run of digits is
    # a number (A017, 563bridge where OCR dropped the space) and stays digits.
    word = _LONE_DIGIT.sub(lambda m: m.group().translate(_AS_LETTER), word)
    word = _BY_DIGIT.sub(lambda m: m.group().translate(_AS_DIGIT), word)  # AO17 -> a017
    return False, word.replace("i", "l")


def words(text: str) -> list[tuple[bool, str, int, int]]:
    """(is number, canonical form, start, end) of each word of a text."""
    return [(*canonical(_fold(m.group())), m.start(), m.end()) for m in _WORD.finditer(text)]


def allowed_edits(word: str) -> int:
    return 0 if len(word) <= 3 else 1 if len(word) <= 7 else 2


def word_similarity(q: tuple[bool, str], w: tuple[bool, str]) -> float:
    """1.0 for equal, less for a tolerated slip, 0.0 for no match."""
    (qnum, qs), (wnum, ws) = q, w
    if qnum or wnum:
        return 1.0 if qnum and wnum and qs == ws else 0.0
    if qs == ws:
        return 1.0
    if _digits(qs) != _digits(ws):  # A017 is not A018
        return 0.0
    d = Levenshtein.distance(qs, ws, score_cutoff=allowed_edits(qs))
    if d > allowed_edits(qs):
        return 0.0
    return 1.0 - 0.5 * d / max(len(qs), 1)


def match_text(query: str, text: str) -> TextMatch | None:
    """How well `text` (one on-screen line) matches `query`; None when it does not."""
    q = [(n, c) for n, c, _, _ in words(query)][:MAX_QUERY_WORDS]
    line = words(text)
    if not q or not line:
        return None
    best: TextMatch | None = None
    # Phrase: the query's words side by side, in order.
    for i in range(len(line) - len(q) + 1):
        sims = [word_similarity(qw, line[i + k][:2]) for k, qw in enumerate(q)]
        if all(s > 0 for s in sims):
            m = TextMatch(round(sum(sims) / len(q), 4), line[i][2], line[i + len(q) - 1][3], True, len(q))
            if best is None or m.score > best.score:
                best = m
    if best is not None:
        return best
    joined = _joined(q, line)
    if joined is not None:
        return joined
    # Some of the words, anywhere in the line: at most half the score.
    found = []
    for qw in q:
        hits = [(word_similarity(qw, w[:2]), w) for w in line]
        s, w = max(hits, key=lambda h: h[0])
        if s > 0:
            found.append((s, w))
    if not found:
        return None
    found_numbers = {w[1] for _, w in found if w[0]}
    if any(n and c not in found_numbers for n, c in q):
        return None  # a number of the query is not on screen: "scene 24" is not "scene 42"
    start, end = min(w[2] for _, w in found), max(w[3] for _, w in found)
    return TextMatch(round(0.5 * sum(s for s, _ in found) / len(q), 4), start, end, False, len(found))


def _joined(q: list[tuple[bool, str]], line: list[tuple[bool, str, int, int]]) -> TextMatch | None:
    """The query found with the spaces between words ignored: OCR often drops the space between
    words ("MARIALOPEZ") or inserts one. Digits must be the query's digits, in order."""
    qc = "".join(c for _, c in q)
    if len(qc) < 4 and not any(ch.isdigit() for ch in qc):
        return None
    chars: list[tuple[str, int, int]] = []  # canonical char, word start, word end
    for _, c, a, b in line:
        chars += [(ch, a, b) for ch in c]
    lc = "".join(ch for ch, _, _ in chars)
    edits = allowed_edits(qc)
    qdigits = _digits(qc)
    best: tuple[int, int, int] | None = None
    for n in range(max(1, len(qc) - edits), len(qc) + edits + 1):
        for i in range(0, len(lc) - n + 1):
            window = lc[i:i + n]
            if _digits(window) != qdigits or _cuts_number(lc, i, i + n):
                continue
            d = Levenshtein.distance(qc, window, score_cutoff=edits)
            if d <= edits and (best is None or d < best[0]):
                best = (d, i, i + n)
    if best is None:
        return None
    d, i, j = best
    return TextMatch(round(0.95 - 0.5 * d / len(qc), 4), chars[i][1], chars[j - 1][2], True, len(q))


def _digits(s: str) -> list[str]:
    return [c for c in s if c.isdigit()]


def _cuts_number(s: str, i: int, j: int) -> bool:
    """Whether s[i:j] starts or ends inside a number ("scene 4" must not match "scene42")."""
    return (i > 0 and s[i].isdigit() and s[i - 1].isdigit()) or (j < len(s) and s[j - 1].isdigit() and s[j].isdigit())
