"""Word and phrase search over transcripts: ranked, case-insensitive, tolerant of a misspelling.

A query is split into Unicode words (diacritics and case folded, as the accelerator's tokenizer
does); Chinese and Japanese, written without spaces, count one character as one word, so a phrase
is its characters side by side. Each word also matches vocabulary terms within a small edit distance (rapidfuzz
Levenshtein: 0 edits up to 2 letters, 1 up to 7, 2 beyond), the accelerator finds candidate
segments by any variant, and each candidate is scored here: the share of the query's words it
holds, whether they stand in the query's order side by side (the phrase), and how close the
spellings are. A phrase split over two cues in a row ("we never" | "went back") is found on the
two joined. Words are given with their times: exact where the source has word times (ASR),
else placed by their position within the cue (`approx`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from ..base import Segment

# Scripts written without spaces between words: each character is a word (Han, kana, half-width kana).
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0002fa1f"
_WORD = re.compile(f"[{_CJK}]|(?:(?![{_CJK}])\\w)+", re.UNICODE)
JOIN_GAP = 2.0  # seconds: cues further apart than this are not read as one sentence
MAX_VARIANTS = 12  # vocabulary terms one query word may expand to
CANDIDATES = 2000  # segments read from the accelerator per query


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def words_of(text: str) -> list[tuple[str, int, int]]:
    """(folded word, start offset, end offset) of each word of a text."""
    return [(fold(m.group()), m.start(), m.end()) for m in _WORD.finditer(text)]


def terms_of(text: str) -> str:
    """The words of a text, folded and space-separated: what the accelerator indexes."""
    return " ".join(w for w, _, _ in words_of(text))


def allowed_edits(word: str) -> int:
    return 0 if len(word) <= 2 else 1 if len(word) <= 7 else 2


@dataclass
class WordHit:
    word: str  # as spoken/written in the transcript
    start: float
    end: float
    approx: bool  # times placed within the cue, not measured


@dataclass
class SaidHit:
    sid: str
    video_id: str
    path: str
    segment: Segment
    coverage: float  # share of the query's words found
    phrase: bool  # all of them, in order, side by side
    exact: bool  # every found word spelled as in the query
    score: float
    words: list[WordHit] = field(default_factory=list)

    @property
    def start(self) -> float:
        return min((w.start for w in self.words), default=self.segment.start)

    @property
    def end(self) -> float:
        return max((w.end for w in self.words), default=self.segment.end)


def variants(qwords: list[str], vocabulary: list[str]) -> list[dict[str, int]]:
    """Per query word, the vocabulary terms it matches with their edit distance."""
    out = []
    for w in qwords:
        k = allowed_edits(w)
        found = {w: 0}
        if k and vocabulary:
            for term, dist, _ in process.extract(w, vocabulary, scorer=Levenshtein.distance, score_cutoff=k,
                                                  limit=MAX_VARIANTS):
                found.setdefault(term, int(dist))
        out.append(found)
    return out


def fts_expression(var: list[dict[str, int]]) -> str:
    terms = sorted({t for v in var for t in v})
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def score_segment(seg: Segment, var: list[dict[str, int]]) -> tuple[float, bool, bool, list[int]] | None:
    """(coverage, phrase, exact, matched token indexes) of a segment, None if no query word is in it."""
    toks = words_of(seg.text)
    pos: list[list[tuple[int, int]]] = []  # per query word: (token index, distance)
    for v in var:
        pos.append([(i, v[t]) for i, (t, _, _) in enumerate(toks) if t in v])
    found = [p for p in pos if p]
    if not found:
        return None
    coverage = len(found) / len(var)
    phrase = False
    chosen: list[int] = []
    if len(found) == len(var):
        for i, _ in pos[0]:  # a start of the phrase: the next query words at the next tokens
            if all(any(j == i + k for j, _ in pos[k]) for k in range(1, len(pos))):
                phrase, chosen = True, list(range(i, i + len(pos)))
                break
    if not chosen:
        chosen = sorted({min(p, key=lambda x: x[1])[0] for p in found})
    dists = [min(d for _, d in p) for p in found]
    return coverage, phrase, all(d == 0 for d in dists), chosen


def word_times(seg: Segment, chosen: list[int]) -> list[WordHit]:
    toks = words_of(seg.text)
    spoken = [(fold(w.text).strip(), w) for w in seg.words]
    hits: list[WordHit] = []
    used = 0
    for i in chosen:
        token, a, b = toks[i]
        original = seg.text[a:b]
        w = next(((k, w) for k, (t, w) in enumerate(spoken[used:], used) if token in t), None)
        if w is not None:
            used = w[0] + 1
            hits.append(WordHit(original, round(w[1].start, 3), round(w[1].end, 3), False))
            continue
        span = max(seg.end - seg.start, 0.0)
        n = max(len(seg.text), 1)
        hits.append(WordHit(original, round(seg.start + span * a / n, 3), round(seg.start + span * b / n, 3), True))
    return hits


Candidate = tuple[str, str, str, Segment, float]  # (sid, video_id, path, segment, bm25)


def rank(candidates: list[Candidate], var: list[dict[str, int]]) -> list[SaidHit]:
    hits: dict[str, SaidHit] = {}
    for order, (sid, vid, path, seg, _bm25) in enumerate(candidates):
        got = score_segment(seg, var)
        if got is None:
            continue
        coverage, phrase, exact, chosen = got
        score = coverage + (0.5 if phrase else 0.0) + (0.2 if exact else 0.0) - order * 1e-6
        hits[sid] = SaidHit(sid, vid, path, seg, round(coverage, 3), phrase, exact, round(score, 4),
                            word_times(seg, chosen))
    if len(var) > 1:
        for order, (a, b) in enumerate(_in_a_row(candidates)):
            hit = _joined_phrase(a, b, var, order)
            if hit is not None:  # one hit for the two cues, ranked just below a phrase inside one cue
                hits.pop(b[0], None)
                if hit.score > getattr(hits.get(a[0]), "score", -1.0):
                    hits[a[0]] = hit
    return sorted(hits.values(), key=lambda h: h.score, reverse=True)


def _in_a_row(candidates: list[Candidate]) -> list[tuple[Candidate, Candidate]]:
    """Pairs of candidate cues that follow each other (same file, source and language, consecutive
    segment numbers, at most JOIN_GAP seconds apart)."""
    by: dict[tuple[str, int], Candidate] = {}
    for c in candidates:
        head, _, k = c[0].rpartition(":")
        if head and k.isdigit():
            by[(c[1], int(k))] = c
    pairs = []
    for (vid, k), a in by.items():
        b = by.get((vid, k + 1))
        if b is not None and a[3].source == b[3].source and a[3].language == b[3].language \
                and 0 <= b[3].start - a[3].end <= JOIN_GAP:
            pairs.append((a, b))
    return pairs


def _joined_phrase(a: Candidate, b: Candidate, var: list[dict[str, int]], order: int) -> SaidHit | None:
    """The query as a phrase that starts in cue `a` and ends in cue `b`; None if it is not one."""
    sa, sb = a[3], b[3]
    seg = Segment(sa.start, sb.end, f"{sa.text} {sb.text}", sa.language, sa.source, sa.words + sb.words)
    got = score_segment(seg, var)
    n_a = len(words_of(sa.text))
    if got is None or not got[1] or not (got[3][0] < n_a <= got[3][-1]):
        return None  # not a phrase, or one that lies inside a single cue
    coverage, _, exact, chosen = got
    words = word_times(sa, [i for i in chosen if i < n_a]) + word_times(sb, [i - n_a for i in chosen if i >= n_a])
    score = coverage + 0.45 + (0.2 if exact else 0.0) - order * 1e-6
    return SaidHit(a[0], a[1], a[2], seg, round(coverage, 3), True, exact, round(score, 4), words)


def label(hit: SaidHit | None, nwords: int) -> str:
    """good: every word of the query said (as a phrase when several); weak: some of them; none."""
    if hit is None:
        return "none"
    if hit.coverage >= 1.0 and (hit.phrase or nwords == 1):
        return "good"
    return "weak" if hit.coverage >= 0.5 else "none"
