"""The departures table of the systems chapter, and the adversarial runs' summary it quotes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.study.evidence import Evidence
from asdlib.study.rows import MSL, MSL_CANDIDATES, SINGLE_SYSTEMS, TUNED
from asdlib.study.runs import clips
from asdlib.study.tuning import msl_choice

PAPER_MSL_POOL = tuple(r for r in MSL_CANDIDATES if r not in ("Disent.Sec", "Disent.Att"))
"""The systems the paper's MSL chose among: its Table 4 choices are all training losses, never the
disentangled model's inference modes Disent.Sec and Disent.Att."""
MSL_PAPER_POOL = "MSL (S1), paper's pool"


def adversary_summary(study_dir: str | Path) -> pd.DataFrame:
    """The adversarial runs' last training epoch per machine and seed: section accuracy, the adversary's
    accuracy and loss, their chance levels (:func:`asdlib.data.domain_shift_prior` of the run's
    training clips), and the final reversal strength."""
    from asdlib.data import domain_shift_prior

    rows = {}
    for log_path in sorted(Path(study_dir).glob("adversarial/*/seed*/train_log.csv")):
        run, last = log_path.parent, pd.read_csv(log_path).iloc[-1]
        table = clips(run)
        prior = domain_shift_prior(table.assign(attributes=table["attributes"].map(json.loads)), run.parent.name)
        rows[(run.parent.name, int(run.name[len("seed"):]))] = {"section_acc": last["section_acc"], "shift_acc": last["shift_acc"],
                          "shift_chance_acc": prior["acc"], "shift_loss": last["shift_loss"],
                          "shift_chance_loss": prior["loss"], "grl_lambda": last["grl_lambda"]}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    if len(frame):
        frame.index.names = ["machine", "seed"]
    return frame


def msl_pools(scores: pd.DataFrame, n_resamples: int = 1000) -> Evidence | None:
    """MSL (S1) chosen per seed and machine from this study's pool (row ``MSL (S1)``) and from the
    paper's (:data:`PAPER_MSL_POOL`, row :data:`MSL_PAPER_POOL`), in one Evidence; None without
    candidates. ``scores``: the study's clip scores (:func:`asdlib.study.runs.collect_scores`)."""
    frames = []
    for _, part in scores[~scores["row"].isin(TUNED)].groupby(["seed", "machine"]):
        for name, pool in ((MSL, MSL_CANDIDATES), (MSL_PAPER_POOL, PAPER_MSL_POOL)):
            chosen = msl_choice(part, pool)
            if chosen is not None:
                frames.append(part[part["row"] == chosen].assign(row=name))
    return Evidence(pd.concat(frames, ignore_index=True), n_resamples) if frames else None


NORM_ROWS = {("disent", "cat"): "Disent.Cat (S3)", ("mtl", "mtl"): "MTL"}
"""The rows scored again without the embedding layer's batch norm (:func:`without_embedding_norm`)."""


def undo_embedding_norm(pooled: np.ndarray, state: dict, pooling: str) -> np.ndarray:
    """Pooled clip embeddings (n, d) as they were before the eval-mode batch norm of the embedding
    layer, ``z = gamma (u - mu) / sigma + beta`` per dimension (``state``: the model's state dict,
    keys ``embedding.1.*``; eps 1e-5 as torch's default): a mean over chunks maps back by the
    inverse, a standard deviation (``pooling`` "std") by dividing by ``|gamma| / sigma``."""
    gamma, beta, mu, var = (state[f"embedding.1.{k}"].double().numpy()
                            for k in ("weight", "bias", "running_mean", "running_var"))
    scale = gamma / np.sqrt(var + 1e-5)
    z = np.asarray(pooled, dtype=np.float64)
    return z / np.abs(scale) if pooling == "std" else (z - beta) / scale + mu


def without_embedding_norm(study_dir: str | Path, rule: str = "last") -> pd.DataFrame:
    """Clip scores of :data:`NORM_ROWS` on the embeddings before the batch norm that follows the
    embedding layer (``asdlib.models.mobilefacenet``), rows named ``"<row>, no embedding norm"`` (columns of
    :func:`asdlib.study.runs.collect_scores`).

    In eval mode the norm is ``z = gamma (u - mu) / sigma + beta`` per dimension, so the saved pooled
    embeddings map back exactly: a mean over chunks by the inverse map, a standard deviation (valve)
    divided by ``|gamma| / sigma``. The checkpoint is the one the rule's result folder scored."""
    from asdlib.embed import default_pooling
    from asdlib.inference import embeddings_path
    from asdlib.scoring import SpaceScorer
    from asdlib.study.runs import SCORE_COLUMNS
    from asdlib.train import load_checkpoint

    frames = []
    for (system, mode), row in NORM_ROWS.items():
        for summary_path in sorted(Path(study_dir).glob(f"{system}/*/seed*/results/{rule}/{mode}/summary.json")):
            run = summary_path.parents[3]
            summary = json.loads(summary_path.read_text())
            epoch = summary["checkpoint"]["epoch"]
            if not isinstance(epoch, int) or not embeddings_path(run, epoch).is_file():
                continue
            saved = np.load(embeddings_path(run, epoch))
            dims = json.loads((run / "config.json").read_text())["model"]["embedding_dims"]  # the model's order
            z = np.concatenate([saved[name] for name in dims], axis=1)
            u = undo_embedding_norm(z, load_checkpoint(run, epoch, "cpu")["model"], default_pooling(summary["machine"]))
            bounds = np.cumsum([0, *dims.values()])
            spaces = {name: u[:, a:b] for name, a, b in zip(dims, bounds[:-1], bounds[1:])}
            table = clips(run)
            train = (table["split"] == "train").to_numpy()
            scorer = SpaceScorer(mode).fit({k: v[train] for k, v in spaces.items()}, table.loc[train, "section"])
            score = np.empty(len(table))
            score[~train] = scorer.score({k: v[~train] for k, v in spaces.items()}, table.loc[~train, "section"])
            score[train] = scorer.score_train()
            frames.append(table.assign(row=f"{row}, no embedding norm", system=system, mode=mode,
                                       machine=summary["machine"], seed=int(summary["config"]["seed"]),
                                       epoch=epoch, score=score)[SCORE_COLUMNS])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def departures(evidence: Evidence, rules: Evidence | None, adversary: pd.DataFrame, rule: str,
               pools: Evidence | None = None, norm: Evidence | None = None,
               durations: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every place where asdlib departs from the paper or from the DCASE 2022 baselines, why, and what
    this build's runs measured of it (paired differences with 95 % intervals, in points).

    ``evidence``: the study under the tables' rule; ``rules``: an Evidence holding each single system
    under both rules (rows ``X`` and ``X [best dev]``, :func:`asdlib.study.evidence.with_both_rules`), or None;
    ``adversary``: :func:`adversary_summary`; ``pools``: :func:`msl_pools`; ``norm``: an Evidence of
    :data:`NORM_ROWS` with and without the embedding norm (:func:`without_embedding_norm`); or None;
    ``durations``: the run notebooks' wall times (:func:`asdlib.study.runs.run_durations`), or None."""
    def paired(a, b):
        return (f"dev {evidence.difference(a, b, 'dev').text(sign=True)}, "
                f"eval {evidence.difference(a, b, 'eval').text(sign=True)}")
    measured = {}
    if rules is not None:
        single = [r for r in SINGLE_SYSTEMS if r in rules.rows and f"{r} [best dev]" in rules.rows]
        parts = [f"{r}: dev {rules.difference(f'{r} [best dev]', r, 'dev').text(sign=True)}, eval "
                 f"{rules.difference(f'{r} [best dev]', r, 'eval').text(sign=True)}" for r in single[:2]]
        measured["checkpoint"] = ("best dev minus last (points): " + "; ".join(parts)
                                  + ("; every single system: Table 4 page" if len(single) > 2 else ""))
    else:
        measured["checkpoint"] = "not in this build (no run scored with both rules)"
    if {"Disent.Cat (S3)", "Disent.Cat (norm.)"} <= set(evidence.rows):
        measured["cat"] = "normalised minus raw (points): " + paired("Disent.Cat (norm.)", "Disent.Cat (S3)")
    else:
        measured["cat"] = "not in this build (no disent run)"
    if len(adversary):
        measured["adversarial"] = (f"last epoch, mean over {len(adversary)} runs: adversary accuracy "
                                   f"{adversary['shift_acc'].mean():.2f} (chance {adversary['shift_chance_acc'].mean():.2f}), "
                                   f"section accuracy {adversary['section_acc'].mean():.2f}")
    else:
        measured["adversarial"] = "not in this build (no adversarial run)"
    if pools is not None and {MSL, MSL_PAPER_POOL} <= set(pools.rows):
        measured["pool"] = ("the paper's pool minus ours (points): dev "
                            f"{pools.difference(MSL_PAPER_POOL, MSL, 'dev').text(sign=True)}, eval "
                            f"{pools.difference(MSL_PAPER_POOL, MSL, 'eval').text(sign=True)}")
    else:
        measured["pool"] = "not in this build"
    norm_rows = [r for r in NORM_ROWS.values() if norm is not None and {r, f"{r}, no embedding norm"} <= set(norm.rows)]
    measured["norm"] = ("without the norm minus with it (points): " + "; ".join(
        f"{r}: dev {norm.difference(f'{r}, no embedding norm', r, 'dev').text(sign=True)}, eval "
        f"{norm.difference(f'{r}, no embedding norm', r, 'eval').text(sign=True)}" for r in norm_rows)
        if norm_rows else "not in this build (no disent or mtl run with saved embeddings)")
    if durations is not None and len(durations):
        per_run = durations.groupby("system")["seconds"].mean()
        measured["budget"] = ("wall time of one run notebook (every seed of a system on one machine), mean over "
                              "machines: " + ", ".join(f"{s} {v:.0f} s" for s, v in per_run.sort_values().items())
                              + "; the effect of training longer is not measured in this build")
    else:
        measured["budget"] = "not in this build (no executed run notebooks)"
    table = [
        ("data", "the real DCASE 2022 Task 2 audio",
         "a synthetic stand-in with the real layout, names, attributes and evaluator files (`asdlib synth`)",
         "the real audio cannot be downloaded where asdlib is built; `make book DATA=...` reads the real set",
         "levels are not comparable; the ordering of systems is compared with Kendall's tau (Tables 2, 3)"),
        ("scale", "10 s clips, 990 + 10 training clips per section, 1025 STFT bins, up to 300 epochs",
         "`quick`: shorter clips, fewer clips, fewer bins and epochs (the *Reproducing* page lists them)",
         "the whole study must build on a 2-core CPU in under an hour; `SCALE=paper` runs the paper's settings",
         "not measured: the paper scale needs a GPU and the real data"),
        ("learning rate", "1e-4, and 1e-5 for ToyCar",
         "`quick` and `smoke`: 1e-3 for every machine, ToyCar included (`paper`: the paper's)",
         "a few hundred optimiser steps per run at the quick scale; one rate keeps the machines comparable",
         "not measured: it needs the study trained again at each rate"),
        ("chunk length", "32 frames at hop 512 (32 ms): a chunk of about 1 s",
         "`quick`: 32 frames at hop 128 (8 ms): 256 ms; `smoke`: hop 64, 128 ms",
         "the quick STFT (window 256) keeps the network's input small on a CPU",
         "not measured: it needs the study trained again at another hop"),
        ("embedding batch norm", "Table 1: the embedding is a linear layer; no norm after it",
         "a BatchNorm1d after the linear embedding layer (`asdlib.models.mobilefacenet`), as public MobileFaceNet implementations have",
         "it rescales each embedding dimension, so it changes the cosine distances of Eq. (4) at inference; "
         "the paper does not say whether it has one",
         measured["norm"] + " (the same runs scored on the embeddings before the norm)"),
        ("checkpoint rule", "per system, machine and mode, the checkpoint (every 5 epochs) with the best dev score",
         f"tables use `{rule}` (`make book CHECKPOINT=...`); every run is scored with both rules",
         "the paper's rule lets the dev test set choose the model; the last checkpoint uses no test label",
         measured["checkpoint"]),
        ("Disent.Cat (norm.)", "Disent.Cat: Eq. (4) on the raw concatenation [z_S; z_A]",
         "the paper's form is the Disent.Cat (S3) row; an extra row normalises each space first",
         "shows how much the spaces' relative norms matter", measured["cat"]),
        ("Adversarial", "named only", "our definition: DANN with a within-section adversary (above)",
         "the paper gives no definition", measured["adversarial"]),
        ("ANP-Boot", "named only; an ANP as in Wichern et al. 2021",
         "our definition of Boot (above); no self-attention over the context and no latent path",
         "the paper gives no definition; the CPU budget", "not measurable against the paper's (no code)"),
        ("MSL (S1)", "the best dev system per machine; its choices do not all follow from its Table 2 (Table 4 page)",
         "the best dev system of these runs among the paper's MobileFaceNet systems, per seed",
         "the paper's choices were made on runs it does not report", "our choices beside the paper's: Table 4"),
        ("MSL pool", "its Table 4 choices are all training losses (never Disent.Sec or Disent.Att)",
         "the pool also holds the disentangled model's inference modes Disent.Sec and Disent.Att",
         "they are rows of Table 2 that a per-machine choice can take", measured["pool"]),
        ("MSL+ANP (S2)", "a weighted sum of the MSL and ANP scores",
         "each score standardised per section by the mean and sd of its training clips' scores first",
         "the two systems' scores live on different scales; the paper does not say how it combined them",
         "not measured"),
        ("AE and MN baselines", "one model per machine and data set (dev, eval); every window per epoch; AE 100 epochs",
         "one model per machine for all six sections; random windows or patches per epoch; at the `quick` "
         "scale fewer epochs, and for MN fewer mel bands and width 0.25",
         "the CPU budget", "not measured"),
        ("training budget", "MobileFaceNet: up to 300 epochs (about 56,000 steps of 32 chunks: 6,000 training clips per machine); "
         "AE: 100 epochs; MobileNetV2: 20 epochs",
         "`quick`, per seed: MobileFaceNet 12 epochs, 120 steps of 32 chunks (3,600 chunks); AE 30 epochs, about "
         "1,130 steps of 512 windows; MobileNetV2 6 epochs, about 230 steps of 32 patches; ANP 10 epochs, 380 steps of 64",
         "the quick study must build in 75 minutes on 2 cores; the budgets are not equal in steps or examples, "
         "and are compared in wall time",
         measured["budget"]),
        ("features", "'STFT magnitude'", "log of the STFT magnitude, floor 1e-8",
         "the paper does not name the compression", "not measured"),
        ("decision threshold", "gamma fit to the training clips' nearest-neighbour scores (leave-one-out)",
         "the same for the embedding systems; AE, MN and ANP use their in-sample training scores, as the baselines do",
         "direct systems have no neighbour to leave out", "affects the decision files only, not AUC or pAUC"),
    ]
    return pd.DataFrame(table, columns=["departure", "paper / DCASE baseline", "here", "why", "measured here"])


def as_markdown(frame: pd.DataFrame) -> str:
    """A frame as a Markdown table (index dropped), so that the book renders code and maths in cells."""
    def cell(value):
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)
