#!/usr/bin/env python3
"""Speaker diarization by agglomerative clustering with BIC merging, the
many-small-fits pattern gmmc.fit_many is for.

A conversation of synthetic MFCC-like frames (19 cepstral features per
frame; each speaker a mixture whose means are smooth spectral envelopes and
whose variances fall with the cepstral index, as real MFCCs do) is cut into
short pieces, which start as clusters. Then, as the classic diarizers
(ICSI's, LIUM's) do:

  fit a GMM on every cluster, and one on every pair of clusters merged
    (all these fits are independent: one gmmc.fit_many call)
  delta BIC of a pair = BIC(merged) - BIC(first) - BIC(second)
  repeat: merge the pair with the lowest delta BIC while it is negative;
    fit the merged cluster and its pairs with every other cluster (one
    fit_many call again; the other pairs' delta BIC stand)
  finally give each window of frames to the cluster whose model scores it
    best (a resegmentation without Viterbi), among the clusters that grew
    (a piece that merged with none straddles a change of speaker)

It prints the clusters found against the true speakers (purity: the share
of frames in their cluster's majority speaker) and the time spent in
fit_many.

  python3 diarization.py [--frames 8000] [--speakers 4] [--piece 250]
                         [--n-components 4] [--device auto] [--seed 0]
"""
import argparse
import itertools
import time

import numpy as np

import gmmc

N_MFCC = 19


def speaker_model(rng, n_components):
    """A speaker: n_components smooth envelopes (a sum of a few cosines over the cepstral index) with
    variances falling as 1/(1+k)."""
    k = np.arange(N_MFCC)
    base = sum(rng.normal(scale=6 / (1 + j), size=1) * np.cos(np.pi * j * k / N_MFCC) for j in range(4))
    means = base + rng.normal(scale=1.0, size=(n_components, N_MFCC)) / (1 + 0.2 * k)
    scales = 1.0 / np.sqrt(1 + k) * rng.uniform(0.6, 1.2, size=(n_components, N_MFCC))
    weights = rng.dirichlet(np.full(n_components, 4.0))
    return weights, means, scales


def conversation(rng, frames, speakers, n_components):
    """Speaker turns of 150 to 600 frames; returns the frames (float32) and each frame's speaker."""
    models = [speaker_model(rng, n_components) for _ in range(speakers)]
    X, who, at, prev = [], [], 0, -1
    while at < frames:
        s = rng.choice([t for t in range(speakers) if t != prev])
        n = min(int(rng.integers(150, 600)), frames - at)
        w, m, sc = models[s]
        comp = rng.choice(len(w), size=n, p=w)
        X.append(m[comp] + sc[comp] * rng.normal(size=(n, N_MFCC)))
        who.append(np.full(n, s))
        at, prev = at + n, s
    return np.concatenate(X).astype(np.float32), np.concatenate(who)


def purity(labels, who):
    total = 0
    for c in np.unique(labels):
        total += np.bincount(who[labels == c]).max()
    return total / len(who)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=8000)
    ap.add_argument("--speakers", type=int, default=4)
    ap.add_argument("--piece", type=int, default=250, help="frames per initial cluster")
    ap.add_argument("--n-components", type=int, default=4, help="components per cluster model")
    ap.add_argument("--window", type=int, default=50, help="frames per window of the final resegmentation")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    X, who = conversation(rng, a.frames, a.speakers, 3)
    labels = np.arange(len(X)) // a.piece  # the initial clusters: pieces of the conversation
    params = dict(n_components=a.n_components, covariance_type="diag", random_state=a.seed, device=a.device,
                  max_iter=50, reg_covar=1e-3)
    stats = {"seconds": 0.0, "fits": 0, "calls": 0}

    def fit_many(arrays):
        t0 = time.perf_counter()
        models = gmmc.fit_many(arrays, **params)
        stats["seconds"] += time.perf_counter() - t0
        stats["fits"] += len(arrays)
        stats["calls"] += 1
        return models

    def fit_clusters(new, others):
        """BIC of the clusters `new`, and delta BIC of each with each of `others` and each other."""
        pairs = [(i, j) for i in new for j in others if i != j] + list(itertools.combinations(new, 2))
        data = [X[labels == c] for c in new] + [X[(labels == i) | (labels == j)] for i, j in pairs]
        models = fit_many(data)
        for n, c in enumerate(new):
            bic[c] = models[n].bic(data[n])
        for n, (i, j) in enumerate(pairs):
            merged = models[len(new) + n]
            delta[tuple(sorted((i, j)))] = merged.bic(data[len(new) + n]) - bic[i] - bic[j]

    bic, delta = {}, {}
    ids = list(np.unique(labels))
    fit_clusters(ids, [])
    while delta:
        best = min(delta, key=delta.get)
        if delta[best] >= 0:
            break
        i, j = best
        labels[labels == j] = i
        ids.remove(j)
        for p in [p for p in delta if i in p or j in p]:
            del delta[p]
        print(f"{len(ids) + 1:3d} clusters: merged {best}")
        fit_clusters([i], ids)
    # the final resegmentation: each window to the cluster whose model scores it best, among those that grew
    # (a piece that merged with none straddles a change of speaker: its frames go to the others)
    ids = [c for c in ids if np.count_nonzero(labels == c) > a.piece] or ids
    models = fit_many([X[labels == c] for c in ids])
    for w0 in range(0, len(X), a.window):
        win = X[w0:w0 + a.window]
        labels[w0:w0 + a.window] = ids[int(np.argmax([m.score(win) for m in models]))]
    print(f"speakers: {a.speakers} true, {len(ids)} found; purity {purity(labels, who):.3f}; {stats['fits']} fits in "
          f"{stats['calls']} fit_many calls, {stats['seconds']:.2f} s, on {models[0].fit_stats_['device']}")


if __name__ == "__main__":
    main()
