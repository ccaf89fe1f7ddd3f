"""Explaining an anomaly decision with the disentangled spaces (the poster's third next step).

For each test clip of a ``disent`` run, the model gives more than one score:

* its nearest-neighbour distance (Eq. 4) in the section space z_S and in the attribute space z_A,
  each standardised by the section's leave-one-out training distances in that space
  (``z = (d - mean) / sd``): how unusual the clip is *there*, in units the two spaces share;
* its nearest normal training clip in each space;
* the attribute classifiers' posteriors, set against the attribute values its file name states
  (none for an anonymised eval test clip: only the evaluator's ground truth knows its attributes,
  and a system at inference does not have it, so its explanation gives no posterior to check).

An explanation reads them together: which space carries the anomaly (``section`` when only z_S is
unusual, ``attribute`` when only z_A is, ``both``, or ``neither``, a space being unusual beyond
:data:`UNUSUAL` standard deviations), how unusual the clip is there, which normal clips it is
closest to, and whether it still "sounds like" its stated attributes (the posterior of each stated
value). An attribute-space-only alarm on a target-domain clip reads as domain shift rather than a
fault.

Command line: ``asdlib explain RUN_DIR --clip NAME [--out card.png]``. Imports torch only to apply
the attribute classifiers (:func:`clip_table`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.inference import embeddings_path, results_path, scored_path
from asdlib.names import parse_clip_name
from asdlib.scoring import nn_cosine_distance

UNUSUAL = 2.0
"""A space is unusual for a clip when its standardised distance exceeds this many standard deviations."""


def _space_distances(emb: np.ndarray, clips: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per clip: NN distance to its section's training clips (leave-one-out for training clips), the
    same standardised by the section's training distances, and the index of the nearest training clip."""
    d = np.empty(len(clips))
    z = np.empty(len(clips))
    nearest = np.empty(len(clips), dtype=int)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    for _, part in clips.groupby("section"):
        train = part.index[part["split"] == "train"].to_numpy()
        test = part.index[part["split"] != "train"].to_numpy()
        loo = nn_cosine_distance(emb[train], emb[train], exclude_self=True)
        d[train], d[test] = loo, nn_cosine_distance(emb[test], emb[train])
        sim = unit[test] @ unit[train].T
        nearest[test] = train[sim.argmax(axis=1)]
        own = unit[train] @ unit[train].T
        np.fill_diagonal(own, -np.inf)
        nearest[train] = train[own.argmax(axis=1)]
        z[part.index] = (d[part.index] - loo.mean()) / max(loo.std(), 1e-12)
    return d, z, nearest


def carrier(z_section: float, z_attribute: float, unusual: float = UNUSUAL) -> str:
    """Which space carries the anomaly: "section", "attribute", "both" or "neither"."""
    s, a = z_section > unusual, z_attribute > unusual
    return "both" if s and a else "section" if s else "attribute" if a else "neither"


def clip_table(run_dir: str | Path, rule: str = "last", mode: str = "cat") -> pd.DataFrame:
    """One row per clip of a ``disent`` run: the explanation's numbers (module docstring).

    Columns: the clip table's (name, section, domain, label, split, attributes as dict), per space
    ``d_<space>``, ``z_<space>``, ``nearest_<space>`` (``section`` and ``attribute``), ``carrier``, and
    per attribute key ``p:<key>`` (the posterior of the value the clip's *file name* states; NaN when
    the name states none, as for every anonymised eval test clip, whose ``attributes`` column comes
    from the evaluator's ground truth, or when the value was never seen in training) with
    ``p_stated`` their minimum. The embeddings are those of the checkpoint ``rule`` chose for
    ``mode``. An ``mtl`` run (``mode`` "mtl") gives the same columns for its one entangled space
    ``mtl`` and no carrier: the entangled comparison.
    """
    import torch

    from asdlib.data import AttributeVocab
    from asdlib.train import load_model

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no config.json)")
    system = json.loads((run_dir / "config.json").read_text())["run"]["system"]
    if system not in ("disent", "mtl"):
        raise ValueError(f"{run_dir}: explanations need a disent run (or mtl, for comparison), not {system}")
    path = results_path(run_dir, rule, mode) / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; score the run first (asdlib score {run_dir} --checkpoint {rule})")
    summary = json.loads(path.read_text())
    epoch = summary["checkpoint"]["epoch"]
    emb = dict(np.load(embeddings_path(run_dir, epoch)))
    clips = pd.read_csv(scored_path(run_dir) / "clips.csv", dtype={"section": str})
    clips["attributes"] = clips["attributes"].map(json.loads)
    out = clips.copy()
    for space in emb:
        d, z, nearest = _space_distances(emb[space], clips)
        out[f"d_{space}"], out[f"z_{space}"] = d, z
        out[f"nearest_{space}"] = clips["name"].to_numpy()[nearest]
    if {"section", "attribute"} <= set(emb):
        out["carrier"] = [carrier(s, a) for s, a in zip(out["z_section"], out["z_attribute"])]
    # the classifiers are linear: on a mean-pooled embedding they give the mean of the chunks' logits
    model, meta = load_model(run_dir, epoch=epoch, device="cpu")
    vocab = AttributeVocab.from_dict(meta["vocab"])
    named = [parse_clip_name(name).attributes for name in clips["name"]]
    with torch.no_grad():
        for key, space, head in zip(model.attribute_keys, model._attribute_spaces, model.attribute_heads):
            posterior = torch.softmax(head(torch.from_numpy(emb[space]).float()), dim=1).numpy()
            stated = [vocab.values[key].index(a[key]) if a.get(key) in vocab.values[key] else -1
                      for a in named]
            out[f"p:{key}"] = [posterior[i, s] if s >= 0 else np.nan for i, s in enumerate(stated)]
    p_columns = [c for c in out.columns if c.startswith("p:")]
    out["p_stated"] = out[p_columns].min(axis=1, skipna=True)
    return out


def describe(row: pd.Series) -> str:
    """The explanation of one clip, in words."""
    spaces = {"section": "the section space (what the machine is)",
              "attribute": "the attribute space (how it runs and is recorded)"}
    where = {"section": f"it is unusual in {spaces['section']} only",
             "attribute": f"it is unusual in {spaces['attribute']} only: more like a change of operating or "
                          "recording conditions than a fault",
             "both": "it is unusual in both spaces", "neither": "neither space finds it unusual"}[row["carrier"]]
    if pd.isna(row["domain"]) or pd.isna(row["label"]):  # an anonymised eval clip, scored without the truth
        known = (f"section {row['section']}; domain and label unknown: only the evaluator's files hold them "
                 "(score the run with --truth EVALUATOR_DIR)")
    else:
        known = f"section {row['section']}, {row['domain']}, {row['label']}"
    lines = [f"{row['name']} ({known}): {where}.",
             f"  section space  : distance {row['d_section']:.3g}, {row['z_section']:+.1f} sd from the section's "
             f"training clips; nearest normal clip {row['nearest_section']}",
             f"  attribute space: distance {row['d_attribute']:.3g}, {row['z_attribute']:+.1f} sd; nearest normal "
             f"clip {row['nearest_attribute']}"]
    stated = [(c[2:], row[c]) for c in row.index if c.startswith("p:") and not pd.isna(row[c])]
    if stated:
        named = parse_clip_name(row["name"]).attributes
        parts = ", ".join(f"{key}={named[key]}: {p:.2f}" for key, p in stated)
        sounds = "still sounds like" if min(p for _, p in stated) >= 0.5 else "no longer sounds like"
        lines.append(f"  it {sounds} its stated attributes (posterior of each stated value: {parts})")
    else:
        lines.append("  its name states no attribute value seen in training: no posterior to check")
    return "\n".join(lines)


def card(run_dir: str | Path, name: str, table: pd.DataFrame, out: str | Path):
    """A PNG card for one clip: its spectrogram, its nearest normal clip in each space and the
    difference, where it lies among the section's training distances in each space, and the
    attribute posteriors."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from asdlib.data import index_dataset
    from asdlib.features import load_features
    from asdlib.train import RunConfig

    run_dir = Path(run_dir)
    config = RunConfig.from_dict(json.loads((run_dir / "config.json").read_text())["run"])
    row = table.set_index("name", drop=False).loc[name]
    names = [name, row["nearest_section"], row["nearest_attribute"]]
    index = index_dataset(config.data_root, truth=config.truth_dir, machines=(config.machine,))
    picked = index.set_index("name").loc[names].reset_index()
    store = load_features(picked.assign(machine=config.machine), config.scale.features, progress=False)
    specs = [np.asarray(store[i], dtype=np.float32).T for i in range(3)]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    titles = ["this clip", "nearest normal, section space", "nearest normal, attribute space"]
    for ax, spec, title in zip(axes[0], specs, titles):
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma")
        ax.set(title=title, xlabel="frame", ylabel="bin")
    frames = min(specs[0].shape[1], specs[1].shape[1])
    axes[1][0].imshow(specs[0][:, :frames] - specs[1][:, :frames], origin="lower", aspect="auto", cmap="coolwarm",
                      vmin=-3, vmax=3)
    axes[1][0].set(title="clip minus nearest normal (section)", xlabel="frame", ylabel="bin")
    section = table[(table["section"] == row["section"]) & (table["split"] == "train")]
    ax = axes[1][1]
    for space, colour in (("section", "tab:blue"), ("attribute", "tab:orange")):
        ax.hist(section[f"z_{space}"], bins=15, alpha=0.5, color=colour, label=f"training clips, {space} space")
        ax.axvline(row[f"z_{space}"], color=colour, lw=2)
    ax.axvline(UNUSUAL, color="grey", ls=":")
    ax.set(title="distance: training clips, this clip", xlabel="sd from the training mean")
    ax.legend(fontsize=7)
    ax = axes[1][2]
    stated = {c[2:]: row[c] for c in row.index if c.startswith("p:") and not pd.isna(row[c])}
    ax.barh(list(stated), list(stated.values()), color="tab:green")
    ax.set(xlim=(0, 1), title="posterior of the stated values", xlabel="probability")
    fig.suptitle(describe(row).splitlines()[0], fontsize=9, x=0.01, ha="left")
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return Path(out)
