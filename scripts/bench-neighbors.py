#!/usr/bin/env python3
"""Benchmark essync neighbors against numpy (exact), Annoy, pynndescent and hnswlib.

All tools get the same synthetic clustered unit vectors (or a folder written by
`essync embed`) and must produce every item's top-K others. For each we report
wall time to the full graph, recall@K against numpy's exact result and the
peak resident memory (VmHWM) of the process doing the work (each tool runs in
its own subprocess). Run through scripts/bench-neighbors.sh,
which installs the baselines into .cache/venv-bench.

  scripts/bench-neighbors.sh --n 10000 --dims 1280 [--tools ours-exact,numpy,...]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

K = 20
TOOLS = ["numpy", "ours-exact", "ours", "annoy", "annoy-10000", "pynndescent", "hnswlib"]


def make_data(n, dims, seed, folder):
    """Clustered unit vectors shaped like image embeddings: n/25 Gaussian
    clusters of varied spread in a 64-d latent space, lifted to dims by a
    random map, plus a little isotropic noise (same recipe as the Go tests)."""
    vec_path = os.path.join(folder, "vectors.npy")
    if os.path.exists(vec_path):
        return
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    latent = 64
    lift = rng.standard_normal((latent, dims)) / np.sqrt(latent)
    nc = max(1, n // 25)
    centres = rng.standard_normal((nc, latent))
    spread = 0.2 + 0.6 * rng.random(nc)
    c = rng.integers(0, nc, n)
    z = centres[c] + spread[c, None] * rng.standard_normal((n, latent))
    x = z @ lift + 0.05 * rng.standard_normal((n, dims))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save(vec_path, x.astype(np.float32))
    with open(os.path.join(folder, "ids.json"), "w") as f:
        json.dump([f"p-{i}" for i in range(n)], f)


def topk_from_scores(s, k, offset):
    """Top-k column indices of each row of s, self excluded, best first."""
    rows = np.arange(s.shape[0])
    s[rows, rows + offset] = -np.inf
    part = np.argpartition(-s, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(s, part, 1), axis=1)
    return np.take_along_axis(part, order, 1)


def run_numpy(x, args):
    out = np.empty((x.shape[0], K), dtype=np.int64)
    b = 2048
    for lo in range(0, x.shape[0], b):
        s = x[lo:lo + b] @ x.T
        out[lo:lo + b] = topk_from_scores(s, K, lo)
    return out, {}


def annoy_graph(idx, n, sk, items):
    out = np.empty((len(items), K), dtype=np.int64)
    for t, i in enumerate(items):
        r = [j for j in idx.get_nns_by_item(int(i), K + 1, search_k=sk) if j != i][:K]
        r += [r[-1]] * (K - len(r))
        out[t] = r
    return out


def run_annoy(x, args, trees=None, search_k=None):
    """Annoy as the old pipeline used it: build, then one query per item
    (single-threaded, like its Python loop). Unless search_k is given, the
    search_k that reaches --recall on a 500-item sample is found first by
    doubling (that tuning is not timed)."""
    import annoy
    n, d = x.shape
    trees = trees or args.annoy_trees
    t0 = time.perf_counter()
    idx = annoy.AnnoyIndex(d, "angular")
    for i in range(n):
        idx.add_item(i, x[i])
    idx.build(trees, n_jobs=-1)
    build = time.perf_counter() - t0
    sk = search_k
    sample_recall = None
    if sk is None:
        truth = np.load(os.path.join(args.folder, "graph-numpy.npy"))
        items = np.random.default_rng(0).choice(n, min(n, 500), replace=False)
        sk = trees * (K + 1)
        while True:
            got = annoy_graph(idx, n, sk, items)
            sample_recall = recall(x[items], got, truth[items], full=x)
            if sample_recall >= args.recall or sk >= 64 * n:
                break
            sk *= 2
    t1 = time.perf_counter()
    out = annoy_graph(idx, n, sk, range(n))
    query = time.perf_counter() - t1
    return out, {"trees": trees, "search_k": sk, "build_s": round(build, 2),
                 "query_s": round(query, 2), "took_inner": build + query}


def run_pynndescent(x, args):
    import pynndescent
    # Compile numba code on a small input first: JIT time is not search time.
    warm = x[:2000].copy()
    pynndescent.NNDescent(warm, metric="dot", n_neighbors=K + 1, random_state=1).neighbor_graph
    t0 = time.perf_counter()
    nnd = pynndescent.NNDescent(x, metric="dot", n_neighbors=K + 1, random_state=1,
                                n_jobs=-1, diversify_prob=1.0)
    ind, _ = nnd.neighbor_graph
    took = time.perf_counter() - t0
    out = np.array([[j for j in row if j != i][:K] for i, row in enumerate(ind)])
    return out, {"took_inner": took}


def run_hnswlib(x, args):
    """hnswlib on all cores; ef is raised (untimed, on a 500-item sample) until
    --recall is met, then the full graph is queried."""
    import hnswlib
    n, d = x.shape
    t0 = time.perf_counter()
    p = hnswlib.Index(space="ip", dim=d)
    p.init_index(max_elements=n, ef_construction=args.hnsw_efc, M=args.hnsw_m, random_seed=1)
    p.add_items(x, np.arange(n), num_threads=os.cpu_count())
    build = time.perf_counter() - t0
    truth = np.load(os.path.join(args.folder, "graph-numpy.npy"))
    items = np.random.default_rng(0).choice(n, min(n, 500), replace=False)
    ef = K + 1
    while True:
        p.set_ef(ef)
        labels, _ = p.knn_query(x[items], k=K + 1, num_threads=os.cpu_count())
        got = np.array([[j for j in row if j != i][:K] for i, row in zip(items, labels)])
        if recall(x[items], got, truth[items], full=x) >= args.recall or ef >= 1000:
            break
        ef = int(ef * 1.5)
    t1 = time.perf_counter()
    labels, _ = p.knn_query(x, k=K + 1, num_threads=os.cpu_count())
    query = time.perf_counter() - t1
    out = np.array([[j for j in row if j != i][:K] for i, row in enumerate(labels)])
    return out, {"M": args.hnsw_m, "ef_construction": args.hnsw_efc, "ef": ef,
                 "build_s": round(build, 2), "query_s": round(query, 2), "took_inner": build + query}


def run_ours(folder, args, exact):
    outp = os.path.join(folder, "ours.json")
    cmd = [args.essync, "neighbors", "--vectors", folder, "--out", outp, "--k", str(K)]
    cmd += ["--exact"] if exact else ["--recall", str(args.recall)]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"essync failed: {res.stderr}")
    with open(os.path.join(folder, "ids.json")) as f:
        pos = {pid: i for i, pid in enumerate(json.load(f))}
    with open(outp) as f:
        rows = json.load(f)
    n = len(pos)
    out = np.zeros((n, K), dtype=np.int64)
    fill = np.zeros(n, dtype=np.int64)
    for r in rows:
        i = pos[r["master_pi"]]
        out[i, fill[i]] = pos[r["similar_pi"]]
        fill[i] += 1
    os.remove(outp)
    rep = res.stdout.strip()
    peak = rep.split("peak RSS ")[1].split(" kB")[0]
    return out, {"reported": rep, "peak_mib": int(peak) / 1024, "took_inner": took}


def vm_hwm_mib():
    """This process's peak resident memory (Linux VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args):
    """Run one tool in this process and save its graph; the parent times it."""
    folder = args.folder
    x = np.load(os.path.join(folder, "vectors.npy"))
    t0 = time.perf_counter()
    if args.child == "numpy":
        out, info = run_numpy(x, args)
    elif args.child == "annoy":
        out, info = run_annoy(x, args)
    elif args.child == "annoy-10000":
        out, info = run_annoy(x, args, trees=10000, search_k=-1)
    elif args.child == "pynndescent":
        out, info = run_pynndescent(x, args)
    elif args.child == "hnswlib":
        out, info = run_hnswlib(x, args)
    elif args.child in ("ours", "ours-exact"):
        del x
        out, info = run_ours(folder, args, args.child == "ours-exact")
    info["took"] = info.pop("took_inner", time.perf_counter() - t0)
    if "peak_mib" not in info:
        info["peak_mib"] = vm_hwm_mib()
    np.save(os.path.join(folder, f"graph-{args.child}.npy"), out)
    with open(os.path.join(folder, f"info-{args.child}.json"), "w") as f:
        json.dump(info, f)


def recall(x, got, truth, full=None):
    """Share of true top-K found; a neighbour as similar as the true K-th counts.
    x holds the query rows; full (default x) the rows the indices point into."""
    full = x if full is None else full
    n = x.shape[0]
    hits = 0
    for lo in range(0, n, 4096):
        xs = x[lo:lo + 4096]
        kth = np.einsum("nd,nd->n", xs, full[truth[lo:lo + 4096, -1]])
        sims = np.einsum("nd,nkd->nk", xs, full[got[lo:lo + 4096]])
        hits += int((sims >= kth[:, None] - 1e-5).sum())
    return hits / (n * K)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--dims", type=int, default=1280)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--vectors", help="folder with vectors.npy + ids.json instead of synthetic data")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--recall", type=float, default=0.99)
    ap.add_argument("--annoy-trees", type=int, default=50)
    ap.add_argument("--hnsw-m", type=int, default=12)
    ap.add_argument("--hnsw-efc", type=int, default=100)
    ap.add_argument("--essync", default="essync")
    ap.add_argument("--cache", default=os.path.join(os.path.dirname(__file__), "..", ".cache", "bench"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)

    folder = args.vectors or os.path.join(args.cache, f"clustered-{args.n}x{args.dims}-s{args.seed}")
    if not args.vectors:
        make_data(args.n, args.dims, args.seed, folder)
    x = np.load(os.path.join(folder, "vectors.npy"))
    raw_mb = x.nbytes / 2**20
    print(f"data: {folder} ({x.shape[0]} × {x.shape[1]}, raw {raw_mb:.0f} MiB), K={K}, cpus={os.cpu_count()}", flush=True)
    tools = args.tools.split(",")
    if "numpy" not in tools and not os.path.exists(os.path.join(folder, "graph-numpy.npy")):
        tools.insert(0, "numpy")
    rows = []
    for tool in tools:
        cmd = [sys.executable, __file__, "--child", tool, "--folder", folder] + sys.argv[1:]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd)
        _, status, ru = os.wait4(proc.pid, 0)
        cpu = ru.ru_utime + ru.ru_stime
        wall = time.perf_counter() - t0
        if status != 0:
            print(f"{tool}: failed (status {status})", flush=True)
            continue
        with open(os.path.join(folder, f"info-{tool}.json")) as f:
            info = json.load(f)
        info["cpu_s"] = round(cpu, 1)
        rows.append((tool, info, wall, info["peak_mib"]))
        print(f"{tool}: {info['took']:.2f}s (process {wall:.2f}s), {info}", flush=True)
    truth = np.load(os.path.join(folder, "graph-numpy.npy"))
    base = {t: i["took"] for t, i, _, _ in rows}
    ref = base.get("numpy")
    if ref is None and os.path.exists(os.path.join(folder, "info-numpy.json")):
        with open(os.path.join(folder, "info-numpy.json")) as f:
            ref = json.load(f)["took"]  # from an earlier run on the same data
        print(f"(× numpy uses numpy's {ref:.2f}s from an earlier run on this data)")
    print()
    print("(peak RSS is the whole process: interpreter or binary, the loaded vectors and the index)")
    print("(CPU is user+sys of the whole child process, including loading the data)")
    print(f"| tool | settings | time to top-{K} graph (s) | × numpy | process CPU (s) | recall@{K} | peak RSS (MiB) | RSS over raw vectors |")
    print("|---|---|---|---|---|---|---|---|")
    for tool, info, wall, rss in rows:
        got = np.load(os.path.join(folder, f"graph-{tool}.npy"))
        r = recall(x, got, truth)
        settings = ", ".join(f"{k}={v}" for k, v in info.items() if k not in ("took", "reported", "peak_mib", "cpu_s"))
        ratio = f"{info['took']/ref:.2f}" if ref else "-"
        print(f"| {tool} | {settings} | {info['took']:.2f} | {ratio} | {info['cpu_s']} | {r:.4f} | {rss:.0f} | {100*(rss-raw_mb)/raw_mb:+.0f}% |", flush=True)


if __name__ == "__main__":
    main()
