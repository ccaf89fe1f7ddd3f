"""Score a trained run: embeddings, anomaly scores per inference mode, official files, summary.

For one run (one system, one machine; see :mod:`asdlib.train`):

1. choose the checkpoint: ``"last"`` (looks at no test label) or ``"best_dev"`` (the paper's rule:
   the checkpoint with the best development-set score, which lets the dev test set choose the
   model); every result records which rule and epoch it used;
2. embed every training and test clip: all 32-frame chunks with the scale's hop (paper: 1), pooled
   by mean, or standard deviation for valve (Sec. 3.3);
3. per inference mode (Sec. 2.2: Disent.Cat, Wt, Sec, Att for ``disent``; each space for
   ``disent_split``; the single space otherwise) score the test clips against the training clips of
   their section (Eq. 4, 5), fit the gamma decision threshold on the leave-one-out training scores,
   and write the official ``anomaly_score_*`` and ``decision_result_*`` files;
4. write ``summary.json`` (config, checkpoint, per-section AUC (S), AUC (T), pAUC, harmonic means)
   and ``embeddings.npz`` + ``clips.csv`` (every clip's pooled embeddings, for the UMAP views).

Output: ``RUN_DIR/results/<mode>/{anomaly_score,decision_result}_<machine>_section_SS_test.csv``,
``RUN_DIR/results/<mode>/summary.json``, ``RUN_DIR/embeddings.npz``, ``RUN_DIR/clips.csv``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.data import index_dataset
from asdlib.features import load_features
from asdlib.metrics import (decision_percentile, gamma_threshold, harmonic_mean, section_metrics,
                            write_anomaly_scores, write_decision_results)
from asdlib.train import RunConfig, list_checkpoints, load_model, write_atomic

CHECKPOINT_RULES = ("last", "best_dev")


def inference_modes(spaces: list[str], weights: tuple[float, float] = (0.5, 0.5)) -> dict[str, dict]:
    """The paper's inference modes for a model with these embedding spaces (Sec. 2.2).

    Returns mode name -> keyword arguments of :class:`asdlib.scoring.SpaceScorer`.
    """
    if spaces == ["attribute", "section"]:  # disent
        return {"cat": {"mode": "cat"}, "wt": {"mode": "wt", "weights": tuple(weights)},
                "sec": {"mode": "sec"}, "att": {"mode": "att"}}
    if len(spaces) > 1:  # disent_split: the joint space, the section space, each attribute space
        return {"cat": {"mode": "cat"}, **{name: {"mode": name} for name in spaces}}
    return {spaces[0]: {"mode": spaces[0]}}


def _embed(model, features, indices, settings, pooling, device, progress):
    from asdlib.embed import embed_clips

    return embed_clips(model, [features[i] for i in indices], chunk_frames=settings.chunk_frames,
                       hop=settings.embed_hop, pooling=pooling, device=device, progress=progress)


def _labelled_metrics(clips: pd.DataFrame, scores: np.ndarray) -> list[dict]:
    """Per section with known labels and domains: AUC (S), AUC (T), pAUC (official rules)."""
    rows = []
    for section, part in clips.groupby("section"):
        if part["label"].isna().any() or part["domain"].isna().any():
            continue
        values = section_metrics((part["label"] == "anomaly").to_numpy().astype(int),
                                 scores[part.index.to_numpy()], part["domain"].to_numpy())
        rows.append({"section": section, **values})
    return rows


def _hmeans(rows: list[dict], sections) -> dict | None:
    chosen = [r for r in rows if r["section"] in sections]
    if not chosen:
        return None
    out = {k: harmonic_mean([r[k] for r in chosen]) for k in ("auc_source", "auc_target", "pauc")}
    out["hmean"] = harmonic_mean([r[k] for r in chosen for k in ("auc_source", "auc_target", "pauc")])
    return out


def score_run(run_dir: str | Path, data_root: str | Path | None = None, truth_dir: str | Path | None = None,
              checkpoint: str = "last", backend: str = "nn", wt_weights: tuple[float, float] = (0.5, 0.5),
              cache_dir=None, device: str | None = None, progress: bool = True) -> dict[str, dict]:
    """Score ``run_dir`` (see the module docstring). Returns mode -> summary dict.

    ``data_root`` / ``truth_dir`` default to the run's own; ``backend`` is "nn" (Eq. 4), "knn" or
    "gmm"; ``wt_weights`` are (w_S, w_A) of Eq. 5 for the ``wt`` mode.
    """
    from asdlib.embed import default_pooling
    from asdlib.scoring import SpaceScorer

    run_dir = Path(run_dir)
    if checkpoint not in CHECKPOINT_RULES:
        raise ValueError(f"checkpoint rule {checkpoint!r}: choose one of {CHECKPOINT_RULES}")
    meta = json.loads((run_dir / "config.json").read_text())
    config = RunConfig.from_dict(meta["run"])
    data_root = data_root or config.data_root
    truth_dir = truth_dir if truth_dir is not None else config.truth_dir
    machine, settings = config.machine, config.scale.train
    index = index_dataset(data_root, truth=truth_dir, machines=(machine,))
    clips = index[index["machine"] == machine].reset_index(drop=True)
    features = load_features(clips, config.scale.features, cache_dir=cache_dir,
                             chunk_frames=settings.chunk_frames, progress=progress)
    train_idx = np.flatnonzero(clips["split"] == "train")
    test_idx = np.flatnonzero(clips["split"] == "test")
    pooling = default_pooling(machine)
    test = clips.iloc[test_idx].reset_index(drop=True)
    dev_sections = sorted(test.loc[test["dataset"] == "dev_data", "section"].unique())

    def embeddings_at(epoch, which):
        model, _ = load_model(run_dir, epoch=epoch, device=device)
        return _embed(model, features, which, settings, pooling, device, progress)

    epochs = list_checkpoints(run_dir)
    if not epochs:
        raise FileNotFoundError(f"{run_dir}: no checkpoint; train it first")
    selection = {"rule": checkpoint, "epochs": epochs}
    if checkpoint == "best_dev":
        dev_idx = test_idx[(test["dataset"] == "dev_data").to_numpy()]
        dev_clips = clips.iloc[dev_idx].reset_index(drop=True)
        dev_scores = {}
        for epoch in epochs:
            emb = embeddings_at(epoch, np.concatenate([train_idx, dev_idx]))
            train_emb = {k: v[:len(train_idx)] for k, v in emb.items()}
            dev_emb = {k: v[len(train_idx):] for k, v in emb.items()}
            first_mode = next(iter(inference_modes(sorted(emb), wt_weights).values()))
            scorer = SpaceScorer(backend=backend, **first_mode).fit(train_emb, clips["section"].iloc[train_idx])
            rows = _labelled_metrics(dev_clips, scorer.score(dev_emb, dev_clips["section"]))
            dev_scores[epoch] = _hmeans(rows, dev_sections)["hmean"]
        selection["dev_hmean_per_epoch"] = dev_scores
        epoch = max(dev_scores, key=dev_scores.get)
    else:
        epoch = epochs[-1]
    selection["epoch"] = epoch

    emb = embeddings_at(epoch, np.arange(len(clips)))
    np.savez_compressed(run_dir / "embeddings.npz.tmp.npz", **{k: v.astype(np.float32) for k, v in emb.items()})
    (run_dir / "embeddings.npz.tmp.npz").replace(run_dir / "embeddings.npz")
    table = clips.drop(columns=["path"]).assign(attributes=[json.dumps(a) for a in clips["attributes"]])
    write_atomic(run_dir / "clips.csv", table.to_csv(index=False))

    train_emb = {k: v[train_idx] for k, v in emb.items()}
    test_emb = {k: v[test_idx] for k, v in emb.items()}
    train_sections = clips["section"].iloc[train_idx].to_numpy()
    summaries = {}
    for mode, kwargs in inference_modes(sorted(emb), wt_weights).items():
        scorer = SpaceScorer(backend=backend, **kwargs).fit(train_emb, train_sections)
        scores = scorer.score(test_emb, test["section"].to_numpy())
        train_scores = scorer.score_train()
        out = run_dir / "results" / mode.replace(":", "-")
        thresholds = {}
        for section, part in test.groupby("section"):
            rows = part.index.to_numpy()
            threshold = gamma_threshold(train_scores[train_sections == section], decision_percentile(machine))
            thresholds[section] = threshold
            write_anomaly_scores(out, machine, section, part["name"].tolist(), scores[rows])
            write_decision_results(out, machine, section, part["name"].tolist(), (scores[rows] > threshold).astype(int))
        rows = _labelled_metrics(test, scores)
        eval_sections = sorted(set(test["section"]) - set(dev_sections))
        summary = {
            "system": config.system, "mode": mode, "machine": machine, "backend": backend,
            "weights": list(kwargs["weights"]) if "weights" in kwargs else None,
            "pooling": pooling, "checkpoint": selection, "thresholds": thresholds,
            "sections": rows, "dev": _hmeans(rows, dev_sections), "eval": _hmeans(rows, eval_sections),
            "config": meta["run"], "code": meta.get("code"), "data_root": str(data_root),
        }
        write_atomic(out / "summary.json", json.dumps(summary, indent=2))
        summaries[mode] = summary
    return summaries


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def register(subparsers) -> None:
    p = subparsers.add_parser("score", help="score a trained run: official CSV files, summary, embeddings")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--data", type=Path, default=None, help="DCASE 2022 root (default: the run's)")
    p.add_argument("--truth", type=Path, default=None, help="evaluator folder for eval test labels")
    p.add_argument("--checkpoint", choices=CHECKPOINT_RULES, default="last",
                   help="'last' (no test labels) or 'best_dev' (the paper's rule)")
    p.add_argument("--backend", choices=("nn", "knn", "gmm"), default="nn")
    p.add_argument("--weights", type=float, nargs=2, default=(0.5, 0.5), metavar=("W_S", "W_A"),
                   help="Eq. 5 weights of the 'wt' mode")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cli_score)


def _cli_score(args) -> int:
    summaries = score_run(args.run_dir, data_root=args.data, truth_dir=args.truth, checkpoint=args.checkpoint,
                          backend=args.backend, wt_weights=tuple(args.weights), device=args.device)
    for mode, s in summaries.items():
        dev = f"dev hmean {s['dev']['hmean']:.4f}" if s["dev"] else "dev: no labels"
        ev = f"eval hmean {s['eval']['hmean']:.4f}" if s["eval"] else "eval: no labels"
        print(f"{s['system']} {mode:>12}  epoch {s['checkpoint']['epoch']}  {dev}  {ev}")
    return 0
