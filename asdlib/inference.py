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
``RUN_DIR/results/<mode>/summary.json``, ``RUN_DIR/results/<mode>/train_scores.csv`` (the training
clips' scores the threshold was fitted on, also used to make systems' scores comparable in
ensembles), ``RUN_DIR/embeddings.npz``, ``RUN_DIR/clips.csv``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.data import index_dataset
from asdlib.features import load_features
from asdlib.metrics import (decision_percentile, gamma_threshold, harmonic_mean, labelled_section_metrics,
                            write_anomaly_scores, write_decision_results)
from asdlib.train import RunConfig, list_checkpoints, load_model, write_atomic

CHECKPOINT_RULES = ("last", "best_dev")


def inference_modes(spaces: list[str], weights: tuple[float, float] = (0.5, 0.5)) -> dict[str, dict]:
    """The paper's inference modes for a model with these embedding spaces (Sec. 2.2).

    Returns mode name -> keyword arguments of :class:`asdlib.scoring.SpaceScorer`.
    """
    if spaces == ["attribute", "section"]:  # disent
        return {"cat": {"mode": "cat"}, "cat_norm": {"mode": "cat_norm"},
                "wt": {"mode": "wt", "weights": tuple(weights)}, "sec": {"mode": "sec"}, "att": {"mode": "att"}}
    if len(spaces) > 1:  # disent_split: the joint space, the section space, each attribute space
        return {"cat": {"mode": "cat"}, **{name: {"mode": name} for name in spaces}}
    return {spaces[0]: {"mode": spaces[0]}}


def _embed(model, features, indices, settings, pooling, device, progress):
    from asdlib.embed import embed_clips

    return embed_clips(model, [features[i] for i in indices], chunk_frames=settings.chunk_frames,
                       hop=settings.embed_hop, pooling=pooling, device=device, progress=progress)


def _direct_scores(model, features, indices, section_codes, settings, device, progress) -> dict:
    """Clip scores of a direct system: mean over chunks of ``model.chunk_scores`` (``{"score": (n, 1)}``)."""
    import torch

    class ChunkScores(torch.nn.Module):  # the embedding contract of embed_clips, one section at a time
        def __init__(self, section: int):
            super().__init__()
            self.inner, self.section = model, section

        def embeddings(self, x):
            section = torch.full((len(x),), self.section, dtype=torch.long, device=x.device)
            return {"score": self.inner.chunk_scores(x, section)[:, None]}

    out = np.zeros((len(indices), 1))
    codes = np.asarray(section_codes)[indices]
    for code in np.unique(codes):
        rows = np.flatnonzero(codes == code)
        out[rows] = _embed(ChunkScores(int(code)), features, np.asarray(indices)[rows], settings, "mean",
                           device, progress)["score"]
    return {"score": out}


def _mode_scores(outputs: dict, mode_kwargs: dict | None, backend: str, train_idx, test_idx, sections):
    """Test scores (m,) and training scores (n,) of one inference mode.

    Embedding systems: a backend on the clip embeddings, training scores leave-one-out (Eq. 4, 5).
    Direct systems (``mode_kwargs`` None): the model's own clip scores, training scores in-sample.
    """
    from asdlib.scoring import SpaceScorer

    if mode_kwargs is None:
        return outputs["score"][test_idx, 0], outputs["score"][train_idx, 0]
    scorer = SpaceScorer(backend=backend, **mode_kwargs).fit({k: v[train_idx] for k, v in outputs.items()},
                                                            sections[train_idx])
    return scorer.score({k: v[test_idx] for k, v in outputs.items()}, sections[test_idx]), scorer.score_train()


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
    from asdlib import systems
    from asdlib.data import AttributeVocab
    from asdlib.embed import default_pooling

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
    sections = clips["section"].to_numpy()
    train_idx = np.flatnonzero(clips["split"] == "train")
    test_idx = np.flatnonzero(clips["split"] == "test")
    test = clips.iloc[test_idx].reset_index(drop=True)
    dev_idx = test_idx[(test["dataset"] == "dev_data").to_numpy()]
    dev_sections = sorted(test.loc[test["dataset"] == "dev_data", "section"].unique())
    direct = systems.is_direct(config.system)
    pooling = "mean" if direct else default_pooling(machine)
    vocab = AttributeVocab.from_dict(meta["vocab"])

    def outputs_at(epoch, which):
        """Clip embeddings (or direct scores) of the clips ``which`` at ``epoch``, one row per clip."""
        model, _ = load_model(run_dir, epoch=epoch, device=device)
        if direct:
            codes = np.array([vocab.encode_section(s) if s in vocab.sections else -1 for s in sections])
            return _direct_scores(model, features, which, codes, settings, device, progress)
        return _embed(model, features, which, settings, pooling, device, progress)

    def modes(names):
        return {"score": None} if direct else inference_modes(sorted(names), wt_weights)

    epochs = list_checkpoints(run_dir)
    if not epochs:
        raise FileNotFoundError(f"{run_dir}: no checkpoint; train it first")
    selection = {"rule": checkpoint, "epochs": epochs}
    if checkpoint == "best_dev":
        dev_clips = clips.iloc[dev_idx].reset_index(drop=True)
        local_train, local_dev = np.arange(len(train_idx)), len(train_idx) + np.arange(len(dev_idx))
        dev_scores = {}
        for epoch in epochs:
            out = outputs_at(epoch, np.concatenate([train_idx, dev_idx]))
            first = next(iter(modes(out).values()))
            scores, _ = _mode_scores(out, first, backend, local_train, local_dev,
                                     np.concatenate([sections[train_idx], sections[dev_idx]]))
            dev_scores[epoch] = _hmeans(labelled_section_metrics(dev_clips, scores), dev_sections)["hmean"]
        selection["dev_hmean_per_epoch"] = dev_scores
        epoch = max(dev_scores, key=dev_scores.get)
    else:
        epoch = epochs[-1]
    selection["epoch"] = epoch

    out = outputs_at(epoch, np.arange(len(clips)))
    np.savez_compressed(run_dir / "embeddings.npz.tmp.npz", **{k: v.astype(np.float32) for k, v in out.items()})
    (run_dir / "embeddings.npz.tmp.npz").replace(run_dir / "embeddings.npz")
    table = clips.drop(columns=["path"]).assign(attributes=[json.dumps(a) for a in clips["attributes"]])
    write_atomic(run_dir / "clips.csv", table.to_csv(index=False))

    train_sections = sections[train_idx]
    eval_sections = sorted(set(test["section"]) - set(dev_sections))
    summaries = {}
    for mode, kwargs in modes(out).items():
        scores, train_scores = _mode_scores(out, kwargs, backend, train_idx, test_idx, sections)
        folder = run_dir / "results" / mode.replace(":", "-")
        thresholds = {}
        for section, part in test.groupby("section"):
            rows = part.index.to_numpy()
            threshold = gamma_threshold(train_scores[train_sections == section], decision_percentile(machine))
            thresholds[section] = threshold
            write_anomaly_scores(folder, machine, section, part["name"].tolist(), scores[rows])
            write_decision_results(folder, machine, section, part["name"].tolist(),
                                   (scores[rows] > threshold).astype(int))
        train_table = clips.iloc[train_idx][["name", "section"]].assign(score=train_scores)
        write_atomic(folder / "train_scores.csv", train_table.to_csv(index=False))
        rows = labelled_section_metrics(test, scores)
        summary = {
            "system": config.system, "mode": mode, "machine": machine,
            "backend": "direct" if direct else backend,
            "weights": list(kwargs["weights"]) if kwargs and "weights" in kwargs else None,
            "pooling": pooling, "checkpoint": selection, "thresholds": thresholds,
            "sections": rows, "dev": _hmeans(rows, dev_sections), "eval": _hmeans(rows, eval_sections),
            "config": meta["run"], "code": meta.get("code"), "data_root": str(data_root),
        }
        write_atomic(folder / "summary.json", json.dumps(summary, indent=2))
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
