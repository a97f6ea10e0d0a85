"""Query latency and recall: on the real-footage index and on a 1,000,000-vector collection.

    python bench/query.py [--queries 200] [--n 1000000] [--ef 100,200,400] [--scratch /tmp/reelfind-bench]

1. Real index: the good shared clips indexed once with ViT-B-32 (random weights) into the scratch dir.
   Latency of SearchService.search_text end to end (tokenise + text tower + Chroma + grouping into
   moments) over --queries distinct texts (every one a text-cache miss), then the same texts again
   (cache hits).
2. 1M: the synthetic collection built by bench/build_1m.py (reused; built first if missing; build
   time reported from its build.json). In a child process (so its peak RSS is the query path's):
   search_text latency on it (misses and hits), and recall@10 of the store's nearest-neighbour query
   against exact brute force (numpy, float32) for --queries CLIP-like synthetic query vectors, at
   each ef_search in --ef (set on the collection with modify(); M and ef_construction are fixed when
   the collection is built: StoreSettings.hnsw_m / hnsw_construction_ef).
Results: tables on stdout and bench/results/query.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import build_1m  # noqa: E402
import footage as footage_mod  # noqa: E402
from synthetic import SyntheticFrames  # noqa: E402

from reelcore.channels.visual.embedder import Embedder  # noqa: E402
from reelcore.config import load_settings  # noqa: E402
from reelcore.ingest.discovery import Root  # noqa: E402
from reelcore.query.search import SearchService  # noqa: E402
from reelcore.runtime import Runtime  # noqa: E402
from reelcore.storage.catalog import Catalog  # noqa: E402
from reelcore.storage.store import Thumbnails  # noqa: E402

MODEL = {"name": "ViT-B-32", "pretrained": "none"}
RESULTS = HERE / "results"
SUBJECTS = ["a rabbit", "a red car", "a woman signing", "two people talking", "a butterfly", "a flower opening",
            "a bee", "a bottle", "a dragon", "a person walking", "a telephone switchboard", "a forest",
            "a parking lot", "snow", "a title card", "a burning letter", "a girl with a sword", "a tree",
            "a hand", "an office"]
PLACES = ["in a forest", "at night", "indoors", "on a street", "in close-up", "from above", "in black and white",
          "in the rain", "at an office", "near water"]


def texts(n: int) -> list[str]:
    out = [f"{s} {p}" for p in PLACES for s in SUBJECTS]
    k = 0
    while len(out) < n:
        out.append(f"{SUBJECTS[k % len(SUBJECTS)]} and {SUBJECTS[(k * 7 + 3) % len(SUBJECTS)]}")
        k += 1
    return out[:n]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def lat(xs: list[float]) -> dict:
    ms = [x * 1000 for x in xs]
    return {"p50_ms": round(pct(ms, 50), 2), "p95_ms": round(pct(ms, 95), 2), "mean_ms": round(statistics.mean(ms), 2),
            "n": len(ms)}


def time_search(svc: SearchService, qs: list[str]) -> list[float]:
    out = []
    for q in qs:
        t0 = time.perf_counter()
        svc.search_text(q, limit=10)
        out.append(time.perf_counter() - t0)
    return out


def time_encode(embedder: Embedder, qs: list[str]) -> list[float]:
    out = []
    for q in qs:
        t0 = time.perf_counter()
        embedder.encode_texts([q])
        out.append(time.perf_counter() - t0)
    return out


# --------------------------------------------------------------------------- real index
def real_index(scratch: Path, nq: int) -> dict:
    folder = footage_mod.copy_real(scratch / "footage")
    data = scratch / "work" / "data-query-real"
    settings = load_settings(None, data_dir=data, model=dict(MODEL))
    rt = Runtime.open(settings, "bench")
    try:
        plan = rt.reconciler().reconcile(Root(folder))
        idx = rt.indexer()
        for r in plan.todo:
            idx.index(r)
        svc = SearchService(settings, rt.catalog, rt.store, rt.embedder, rt.thumbs)
        svc.warm()
        qs = texts(nq)
        miss = time_search(svc, qs)
        hit = time_search(svc, qs)
        enc = time_encode(rt.embedder, qs[:50])
        return {"vectors": rt.store.count(), "search_text_miss": lat(miss), "search_text_hit": lat(hit),
                "text_encode": lat(enc)}
    finally:
        rt.close()


# --------------------------------------------------------------------------- 1M
def brute_force(syn: SyntheticFrames, queries: np.ndarray, k: int, chunk: int = 50_000):
    """Exact top-k ids (and the k-th best score) by cosine, regenerating the unit vectors chunk by chunk."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, syn.n, chunk):
        stop = min(syn.n, start + chunk)
        vecs, _ = syn.chunk(start, stop)
        s = queries @ vecs.T
        cand_s = np.concatenate([best_s, s], axis=1)
        cand_i = np.concatenate([best_i, np.arange(start, stop)[None, :].repeat(len(queries), 0)], axis=1)
        top = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, top, 1)
        best_i = np.take_along_axis(cand_i, top, 1)
    ids = [[SyntheticFrames.ids(int(i), int(i) + 1)[0] for i in row] for row in best_i]
    return ids, [float(row.min()) for row in best_s]


def recall(hits, truth_ids: list[str], truth_kth: float) -> tuple[float, float]:
    """(id recall@10, tie-aware recall@10: hits scoring at least the true 10th best, within 1e-5)."""
    ids = {h.id for h in hits}
    return (len(ids & set(truth_ids)) / 10, sum(1 for h in hits if h.score >= truth_kth - 1e-5) / 10)


def child_1m(args) -> None:
    """Runs in a child process per ef_search (Chroma keeps a loaded HNSW index's search depth, so a
    modify() takes effect for a process that has not queried yet): recall + store latency, and with
    --e2e, search_text latency and the query path's peak RSS."""
    logging.basicConfig(level=logging.ERROR)
    data = args.dir
    settings = load_settings(None, data_dir=data, model=dict(MODEL))
    t0 = time.perf_counter()
    store = build_1m.open_store(data)
    t_open = time.perf_counter() - t0
    col = store._collection
    ef = args.ef[0]
    col.modify(configuration={"hnsw": {"ef_search": ef}})
    n = col.count()
    syn = SyntheticFrames(n)
    qv = syn.queries(args.queries)
    truth = json.loads((data / TRUTH.format(n=n, q=args.queries)).read_text())
    out: dict = {"vectors": n, "open_s": round(t_open, 2), "ef_search": ef,
                 "hnsw": dict(col.configuration_json.get("hnsw") or {})}
    # the stored vectors are the generator's (Chroma may renormalise: float rounding only)
    got = col.get(ids=SyntheticFrames.ids(n - 3, n), include=["embeddings"])
    want, _ = syn.chunk(n - 3, n)
    out["stored_vs_generated_maxdiff"] = float(np.abs(np.asarray(got["embeddings"]) - want).max())
    t1 = time.perf_counter()
    store.query(qv[0], 10)  # the first query loads the HNSW index
    out["first_query_s"] = round(time.perf_counter() - t1, 2)
    lats, rid, rtie = [], [], []
    for q, tr in zip(qv, truth, strict=True):
        t1 = time.perf_counter()
        hits = store.query(q, 10)
        lats.append(time.perf_counter() - t1)
        a, b = recall(hits, tr["ids"], tr["kth"])
        rid.append(a)
        rtie.append(b)
    lats80 = []
    for q in qv[:100]:
        t1 = time.perf_counter()
        store.query(q, 80)  # what search_text asks for (limit 10 x 8 over-fetch)
        lats80.append(time.perf_counter() - t1)
    out.update({"recall_at_10": round(float(np.mean(rtie)), 4), "recall_min": round(float(np.min(rtie)), 2),
                "id_recall_at_10": round(float(np.mean(rid)), 4),
                "store_query_k10": lat(lats), "store_query_k80": lat(lats80)})
    if args.e2e:
        embedder = Embedder(settings.model)
        catalog = Catalog(settings.catalog_path)
        svc = SearchService(settings, catalog, store, embedder, Thumbnails(settings.thumbs_dir))
        t1 = time.perf_counter()
        svc.warm()
        out["warm_s"] = round(time.perf_counter() - t1, 2)
        qs = texts(args.queries)
        out["search_text_miss"] = lat(time_search(svc, qs))
        out["search_text_hit"] = lat(time_search(svc, qs))
        out["text_encode"] = lat(time_encode(embedder, qs[:50]))
        catalog.close()
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("CHILD_JSON " + json.dumps(out), flush=True)


TRUTH = "truth_v2_{n}_{q}.json"


def run_1m(args) -> dict:
    state = build_1m.build(args.n, args.dir)
    n = args.n
    truth_file = args.dir / TRUTH.format(n=n, q=args.queries)
    res: dict = {"build_s": round(state.get("seconds", 0), 1), "build_cpu_s": round(state.get("cpu_seconds", 0), 1)}
    if not truth_file.exists():
        syn = SyntheticFrames(n)
        t1 = time.perf_counter()
        ids, kth = brute_force(syn, syn.queries(args.queries), 10)
        res["brute_force_s"] = round(time.perf_counter() - t1, 1)
        truth_file.write_text(json.dumps([{"ids": i, "kth": k} for i, k in zip(ids, kth, strict=True)]))
    default_ef = load_settings(None, data_dir=args.dir).store.hnsw_search_ef
    efs = sorted(set(args.ef) | {default_ef})
    res["default_ef_search"] = default_ef
    res["ef"] = []
    for ef in efs:
        cmd = [sys.executable, __file__, "--child-1m", "--dir", str(args.dir), "--queries", str(args.queries),
               "--ef", str(ef)] + (["--e2e"] if ef == default_ef else [])
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        line = next((x for x in p.stdout.splitlines() if x.startswith("CHILD_JSON ")), None)
        if p.returncode != 0 or line is None:
            raise SystemExit(f"1M child failed ({p.returncode}): {p.stdout[-2000:]}")
        row = json.loads(line[len("CHILD_JSON "):])
        print(f"    ef_search {ef}: recall@10 {row['recall_at_10']} (ids {row['id_recall_at_10']})  "
              f"k=10 p50 {row['store_query_k10']['p50_ms']} ms  k=80 p50 {row['store_query_k80']['p50_ms']} ms",
              flush=True)
        res["ef"].append(row)
        if ef == default_ef:
            for k in ("vectors", "open_s", "first_query_s", "warm_s", "search_text_miss", "search_text_hit",
                      "text_encode", "peak_rss_mb", "hnsw", "stored_vs_generated_maxdiff"):
                res[k] = row.get(k)
    # store the configured default back on the collection
    build_1m.open_store(args.dir)._collection.modify(configuration={"hnsw": {"ef_search": default_ef}})
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",")], default=[100, 200, 400, 800])
    ap.add_argument("--scratch", type=Path, default=Path("/tmp/reelfind-bench"))
    ap.add_argument("--dir", type=Path, default=None, help="1M collection dir (default: <scratch>/q1m)")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--skip-1m", action="store_true")
    ap.add_argument("--child-1m", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--e2e", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.dir = args.dir or args.scratch / "q1m"
    if args.child_1m:
        child_1m(args)
        return
    logging.basicConfig(level=logging.ERROR)
    info = {"cpus": os.cpu_count(), "model": "ViT-B-32 random weights", "load_start": round(os.getloadavg()[0], 2),
            "started": time.strftime("%F %T")}
    res: dict = {"info": info}
    if not args.skip_real:
        print("== real index", flush=True)
        res["real"] = real_index(args.scratch, args.queries)
    if not args.skip_1m:
        print(f"== {args.n} vectors", flush=True)
        res["1m"] = run_1m(args)
    info["load_end"] = round(os.getloadavg()[0], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "query.json").write_text(json.dumps(res, indent=1))
    print(f"\n{info}\n")
    print("| index | vectors | search_text p50 ms (miss) | p95 ms (miss) | p50 ms (cache hit) | p95 (hit) | "
          "text encode p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for name in ("real", "1m"):
        if name in res:
            r = res[name]
            miss, hit = r["search_text_miss"], r["search_text_hit"]
            print(f"| {name} | {r['vectors']} | {miss['p50_ms']} | {miss['p95_ms']} | {hit['p50_ms']} | "
                  f"{hit['p95_ms']} | {r['text_encode']['p50_ms']} |")
    if "1m" in res:
        r = res["1m"]
        h = r["hnsw"]
        print(f"\n1M collection: build {r['build_s']} s ({r['build_cpu_s']} CPU s), M={h.get('max_neighbors')} "
              f"ef_construction={h.get('ef_construction')}; open {r['open_s']} s, first query {r['first_query_s']} s, "
              f"peak RSS of the query process {r['peak_rss_mb']} MB")
        print("| ef_search | recall@10 | min recall | id recall@10 | store k=10 p50 ms | p95 | store k=80 p50 ms "
              "| p95 |")
        print("|---|---|---|---|---|---|---|---|")
        for e in r["ef"]:
            k10, k80 = e["store_query_k10"], e["store_query_k80"]
            print(f"| {e['ef_search']} | {e['recall_at_10']} | {e['recall_min']} | {e['id_recall_at_10']} | "
                  f"{k10['p50_ms']} | {k10['p95_ms']} | {k80['p50_ms']} | {k80['p95_ms']} |")


if __name__ == "__main__":
    main()
