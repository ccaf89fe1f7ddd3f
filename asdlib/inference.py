"""Score a trained run: embeddings, anomaly scores per inference mode and checkpoint rule, official files.

For one run (one system, one machine; see :mod:`asdlib.train`):

1. embed every training and test clip at each checkpoint the rules need (``"last"``: the last
   checkpoint; ``"best_dev"``, the paper's: every checkpoint): all chunks with the scale's hop
   (paper: 32 frames, hop 1), pooled by mean, or standard deviation for valve (Sec. 3.3), in
   float32 (:func:`asdlib.embed.embed_clips`);
2. per inference mode (Sec. 2.2: Disent.Cat, Wt, Sec, Att for ``disent``; each space for
   ``disent_split``; the single space otherwise) and checkpoint, score the test clips against the
   training clips of their section (Eq. 4, 5) and each training clip against the others
   (leave-one-out, for the decision threshold);
3. per rule and mode, choose the checkpoint: ``"last"`` looks at no test label; ``"average<K>"``
   averages the weights of the last K checkpoints (batch norm recomputed; the top rank's pipeline,
   :func:`asdlib.train.load_averaged_model`) and looks at no test label either; ``"best_dev"``
   takes the checkpoint with the best development-set official score *of that mode* (each mode
   chooses its own epoch, as the paper's rows do); the evaluation set's labels are never read for
   a choice;
4. per rule and mode, write the official ``anomaly_score_*`` and ``decision_result_*`` files (gamma
   threshold on the training scores), the training scores and a ``summary.json``, as one folder
   replaced whole (:func:`asdlib.atomic.staged_folder`). A run missing checkpoints its configuration
   plans (an interrupted training) is scored as it is, with a warning and ``"complete": false`` in
   the summary's ``checkpoint`` entry.

The arguments (rules, backend, Eq. 5 weights) are checked against the run before anything is embedded.

Run folder, after scoring (each of ``scored/`` and ``results/<rule>/<mode>/`` is replaced as a whole,
so it never mixes the files of two scorings; the run folder is locked while it is scored)::

    RUN_DIR/scored/clips.csv                  every clip (train and test) in the order of the arrays below
    RUN_DIR/scored/epoch_scores.npz           per mode: (n_checkpoints, n_clips) scores; "epochs"
    RUN_DIR/scored/embeddings/epoch_NNNN.npz  pooled embeddings of every clip, for each chosen checkpoint
    RUN_DIR/results/<rule>/<mode>/            anomaly_score_*, decision_result_*, train_scores.csv, summary.json
    RUN_DIR/results-<backend>/...             the same for a backend other than the nearest neighbour
                                              (``--backend knn``), with its own epoch_scores.npz

A rescoring without eval labels (no ``--truth``) keeps the eval metrics an earlier scoring with them
wrote when it scores every eval clip the same; otherwise it drops them and warns.

A run pre-trained on every machine (``--machine all``; the method on the DCASE 2023-2025 layouts, one
section per machine type) is scored per machine: each machine's clips pooled its own way, each test
clip against the training clips of its own machine's section, thresholds per machine and section,
and the official files of every machine in one results folder (the summary's rows then name their
machine).
"""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.features import concat_stores, load_features
from asdlib.metrics import (decision_percentile, gamma_threshold, harmonic_mean,
                            labelled_section_metrics, write_anomaly_scores, write_decision_results)
from asdlib.atomic import clean_stale, exclusive, staged_folder, write_atomic
from asdlib.train import (ALL_MACHINES, RunConfig, checkpoint_epochs, list_checkpoints, load_model, machine_index,
                          read_run_config)

CHECKPOINT_RULES = ("last", "best_dev")
AVERAGE_RULE = re.compile(r"^average([1-9]\d*)$")
"""``average<K>``: the average of the weights of the last K checkpoints (batch norm recomputed)."""


def check_rules(rules) -> tuple[str, ...]:
    """The checkpoint rules, each ``last``, ``best_dev`` or ``average<K>`` (K >= 1); refuses others."""
    rules = tuple(dict.fromkeys(rules))
    bad = [r for r in rules if r not in CHECKPOINT_RULES and not AVERAGE_RULE.match(r)]
    if bad or not rules:
        raise ValueError(f"checkpoint rule(s) {bad or list(rules)}: choose from {', '.join(CHECKPOINT_RULES)} "
                         "or average<K> (e.g. average2)")
    return rules


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


def _mode_scores(outputs: dict, mode_kwargs: dict | None, backend: str, train_idx, test_idx, sections, domains):
    """Test scores (m,) and training scores (n,) of one inference mode; ``sections`` and ``domains``
    (n_clips,) of every clip.

    Embedding systems: a backend on the clip embeddings, training scores leave-one-out (Eq. 4, 5).
    Direct systems (``mode_kwargs`` None): the model's own clip scores, training scores in-sample.
    """
    from asdlib.scoring import SpaceScorer

    if mode_kwargs is None:
        return outputs["score"][test_idx, 0], outputs["score"][train_idx, 0]
    scorer = SpaceScorer(backend=backend, **mode_kwargs).fit({k: v[train_idx] for k, v in outputs.items()},
                                                            sections[train_idx], domains[train_idx])
    return scorer.score({k: v[test_idx] for k, v in outputs.items()}, sections[test_idx]), scorer.score_train()


def _row_key(row: dict, machine: str) -> tuple[str, str]:
    """(machine, section) of a summary row (a single machine's rows name no machine)."""
    return row.get("machine", machine), row["section"]


def _section_rows(test: pd.DataFrame, scores: np.ndarray, pooled: bool) -> list[dict]:
    """The labelled sections' metrics (:func:`asdlib.metrics.labelled_section_metrics`); per machine,
    each row naming its machine, when ``pooled`` (a run on every machine)."""
    if not pooled:
        return labelled_section_metrics(test, scores)
    return [{"machine": machine, **row} for machine, part in test.groupby("machine", sort=False)
            for row in labelled_section_metrics(part, scores)]


def _embed_machines(model, features, clips: pd.DataFrame, settings, poolings: dict, device, progress) -> dict:
    """The pooled embeddings of every clip (rows of ``clips``), each machine's with its pooling."""
    out = None
    for machine, pooling in poolings.items():
        rows = np.flatnonzero(clips["machine"] == machine)
        part = _embed(model, features, rows, settings, pooling, device, progress)
        if len(poolings) == 1:
            return part
        out = out or {k: np.zeros((len(clips), v.shape[1]), dtype=v.dtype) for k, v in part.items()}
        for k, v in part.items():
            out[k][rows] = v
    return out


def _hmeans(rows: list[dict], keys, machine: str) -> dict | None:
    chosen = [r for r in rows if _row_key(r, machine) in keys]
    if not chosen:
        return None
    out = {k: harmonic_mean([r[k] for r in chosen]) for k in ("auc_source", "auc_target", "pauc")}
    out["hmean"] = harmonic_mean([r[k] for r in chosen for k in ("auc_source", "auc_target", "pauc")])
    return out


def scored_path(run_dir: str | Path) -> Path:
    """The folder of a run's clip table, per-checkpoint scores and embeddings (module docstring)."""
    return Path(run_dir) / "scored"


def results_root(run_dir: str | Path, backend: str = "nn") -> Path:
    """Where a scoring backend's results live: ``results/`` for the paper's nearest neighbour (Eq. 4)
    and for the direct systems (``backend`` "direct"), ``results-<backend>/`` for another backend, so
    that the results of different backends stand side by side."""
    return Path(run_dir) / ("results" if backend in ("nn", "direct") else f"results-{backend}")


def results_path(run_dir: str | Path, rule: str, mode: str, backend: str = "nn") -> Path:
    """The folder of a run's official files and ``summary.json`` for one checkpoint rule, inference
    mode and backend (:func:`results_root`)."""
    return results_root(run_dir, backend) / rule / mode.replace(":", "-")


def epoch_scores_path(run_dir: str | Path, backend: str = "nn") -> Path:
    """The per-checkpoint scores of a backend: ``scored/epoch_scores.npz`` for the nearest neighbour
    (and the direct systems), ``results-<backend>/epoch_scores.npz`` for another."""
    if backend in ("nn", "direct"):
        return scored_path(run_dir) / "epoch_scores.npz"
    return results_root(run_dir, backend) / "epoch_scores.npz"


def embeddings_path(run_dir: str | Path, epoch: int | str) -> Path:
    """Where the pooled embeddings of every clip at ``epoch`` (a checkpoint, or an averaged model's
    rule name such as ``average2``) are saved (``scored/clips.csv`` order)."""
    name = f"epoch_{epoch:04d}" if isinstance(epoch, (int, np.integer)) else str(epoch)
    return scored_path(run_dir) / "embeddings" / f"{name}.npz"


def score_run(run_dir: str | Path, data_root: str | Path | None = None, truth_dir: str | Path | None = None,
              rules=("last",), backend: str = "nn", wt_weights: tuple[float, float] = (0.5, 0.5),
              cache_dir=None, device: str | None = None, progress: bool = True,
              index: pd.DataFrame | None = None) -> dict[str, dict[str, dict]]:
    """Score ``run_dir`` (see the module docstring). Returns ``{rule: {mode: summary}}``.

    ``rules``: checkpoint rules, :data:`CHECKPOINT_RULES` or ``average<K>`` (:data:`AVERAGE_RULE`);
    ``data_root`` / ``truth_dir`` default to the run's own; ``backend`` is a name of
    :data:`asdlib.scoring.BACKENDS` ("nn": Eq. 4; a domain-aware one reads the training clips'
    domains from their names); ``wt_weights`` are (w_S, w_A) of Eq. 5 for the ``wt`` mode; ``index``: the data set's :func:`asdlib.data.index_dataset`, if the
    caller has it already (it must be of that data root and truth).
    """
    run_dir = Path(run_dir)
    rules = _check_arguments(run_dir, rules, backend, wt_weights)
    with exclusive(run_dir):
        return _score_run(run_dir, data_root, truth_dir, rules, backend, wt_weights, cache_dir, device, progress,
                          index)


def _check_arguments(run_dir: Path, rules, backend: str, wt_weights) -> tuple[str, ...]:
    """Refuse, before anything is embedded or written, a folder that is not a run with checkpoints, a
    rule it cannot follow, an unknown backend, and Eq. 5 weights that are negative, not finite or
    both 0. Returns the rules, checked."""
    from asdlib.scoring import BACKENDS

    epochs = list_checkpoints(run_dir)
    if not (run_dir / "config.json").is_file() and not epochs:  # a lost config.json is read from the checkpoints
        raise FileNotFoundError(f"{run_dir}: not a run folder (no config.json)")
    rules = check_rules(rules)
    if not epochs:
        raise FileNotFoundError(f"{run_dir}: no checkpoint; train it first")
    for rule in rules:
        if AVERAGE_RULE.match(rule) and int(AVERAGE_RULE.match(rule)[1]) > len(epochs):
            raise ValueError(f"checkpoint rule {rule}: {run_dir} has only {len(epochs)} checkpoint(s) ({epochs})")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {sorted(BACKENDS)}")
    w = np.asarray(wt_weights, dtype=float)
    if w.shape != (2,) or not np.isfinite(w).all() or (w < 0).any() or not w.any():
        raise ValueError(f"weights {list(wt_weights)}: the wt mode's (W_S, W_A) (Eq. 5) must be two finite "
                         "numbers >= 0, not both 0")
    return rules


def _score_run(run_dir: Path, data_root, truth_dir, rules, backend, wt_weights, cache_dir, device, progress, index):
    from asdlib import systems
    from asdlib.data import AttributeVocab
    from asdlib.embed import default_pooling

    results = [run_dir / "results", *run_dir.glob("results-*")]
    for folder in [run_dir, *results, *(f for r in results for f in r.glob("*"))]:  # a killed scoring's staging
        clean_stale(folder)
    meta = read_run_config(run_dir)
    config = RunConfig.from_dict(meta["run"])
    pooled = config.machine == ALL_MACHINES
    data_root = data_root or config.data_root
    truth_dir = truth_dir if truth_dir is not None else config.truth_dir
    machine, settings = config.machine, config.scale.train
    epochs = list_checkpoints(run_dir)
    planned = checkpoint_epochs(settings)
    missing = sorted(set(planned) - set(epochs))  # an interrupted training: scored, but said so
    complete = not missing
    if missing:
        print(f"asdlib score: warning: {run_dir}: no checkpoint of epoch(s) {missing} ({len(epochs)} of the "
              f"{len(planned)} planned); scored as it is, 'last' is epoch {epochs[-1]} of {settings.epochs} "
              '(summary.json: "complete": false)', file=sys.stderr)
    vocab = AttributeVocab.from_dict(meta["vocab"])
    machines = tuple(dict.fromkeys(s.split("/")[0] for s in vocab.sections)) if pooled else (machine,)
    if index is None:
        index = machine_index(data_root, truth_dir or None, config.machine, config.year)
    scored = index[index["split"].isin(("train", "test"))]  # not DCASE 2025's supplemental clips
    clips = pd.concat([scored[scored["machine"] == m] for m in machines]).reset_index(drop=True)
    stores = [load_features(clips[clips["machine"] == m], config.scale.features, cache_dir=cache_dir,
                            chunk_frames=settings.chunk_frames, progress=progress) for m in machines]
    features = stores[0] if len(stores) == 1 else concat_stores(stores)  # one store per machine
    # the groups a test clip is scored within: its section, or its machine's section ("fan/00") when pooled
    sections = (clips["machine"] + "/" + clips["section"] if pooled else clips["section"]).to_numpy()
    domains = clips["domain"].to_numpy()
    train_idx = np.flatnonzero(clips["split"] == "train")
    test_idx = np.flatnonzero(clips["split"] == "test")
    test = clips.iloc[test_idx].reset_index(drop=True)
    dev_test = test[test["dataset"] == "dev_data"]
    dev_keys = set(zip(dev_test["machine"], dev_test["section"]))  # (machine, section) pairs
    eval_keys = set(zip(test["machine"], test["section"])) - dev_keys
    if "best_dev" in rules and (dev_test.empty or dev_test["label"].isna().any()):
        raise ValueError(f"{run_dir}: checkpoint rule 'best_dev' needs labelled development test clips "
                         f"(dev_data/{machine if not pooled else '<machine>'}/test under {data_root})")
    direct = systems.is_direct(config.system)
    scorer = "direct" if direct else backend   # where the results go (results_root)
    poolings = {m: "mean" if direct else default_pooling(m) for m in machines}
    codes = np.array([vocab.encode_section(s) if s in vocab.sections else -1 for s in sections])

    # 1-2: every needed checkpoint's outputs, and every mode's scores at it (the outputs are kept only
    # while their epoch is the last or some mode's best so far: they are saved for the chosen epochs)
    needed = epochs if "best_dev" in rules else epochs[-1:]
    mode_specs, per_epoch, dev_curve, outputs = None, {}, {}, {}
    for epoch in needed:
        model, _ = load_model(run_dir, epoch=epoch, device=device)
        if direct:
            out = _direct_scores(model, features, np.arange(len(clips)), codes, settings, device, progress)
        else:
            out = _embed_machines(model, features, clips, settings, poolings, device, progress)
        mode_specs = {"score": None} if direct else inference_modes(sorted(out), wt_weights)
        for mode, kwargs in mode_specs.items():
            scores, train_scores = _mode_scores(out, kwargs, backend, train_idx, test_idx, sections, domains)
            per_epoch[epoch, mode] = (scores, train_scores)
            dev = _hmeans(_section_rows(test, scores, pooled), dev_keys, machine)
            dev_curve.setdefault(mode, {})[epoch] = None if dev is None else dev["hmean"]
        outputs[epoch] = out
        chosen = _choose_epochs(rules, mode_specs, needed[:needed.index(epoch) + 1], dev_curve)
        keep = {e for picks in chosen.values() for e in picks.values()}
        outputs = {e: o for e, o in outputs.items() if e in keep or e == epochs[-1]}

    # averaged weights: one model per average<K> rule, scored like a checkpoint
    averages = [r for r in rules if AVERAGE_RULE.match(r)]
    averaged_epochs = {}
    for rule in averages:
        from asdlib.train import load_averaged_model

        batches = _training_chunks(features, train_idx, settings, device)
        model, _, averaged_epochs[rule] = load_averaged_model(run_dir, int(AVERAGE_RULE.match(rule)[1]), batches,
                                                              device)
        if direct:
            out = _direct_scores(model, features, np.arange(len(clips)), codes, settings, device, progress)
        else:
            out = _embed_machines(model, features, clips, settings, poolings, device, progress)
        for mode, kwargs in mode_specs.items():
            per_epoch[rule, mode] = _mode_scores(out, kwargs, backend, train_idx, test_idx, sections, domains)
        outputs[rule] = out

    # 3: each rule's checkpoint per mode
    chosen = _choose_epochs([r for r in rules if r not in averages], mode_specs, needed, dev_curve)
    chosen.update({rule: {mode: rule for mode in mode_specs} for rule in averages})
    table = clips.drop(columns=["path"]).assign(attributes=[json.dumps(a) for a in clips["attributes"]])
    all_scores = {}
    for mode in mode_specs:
        rows = np.empty((len(needed), len(clips)))
        for i, epoch in enumerate(needed):
            rows[i, test_idx], rows[i, train_idx] = per_epoch[epoch, mode]
        all_scores[mode] = rows
    own = epoch_scores_path(run_dir, scorer)
    before = scored_path(run_dir) / "clips.csv"   # what an earlier scoring's arrays are aligned with
    same_clips = before.is_file() and pd.read_csv(before)["name"].tolist() == table["name"].tolist()
    per_checkpoint = _merged_epoch_scores(own if same_clips else None, needed, all_scores)
    with staged_folder(scored_path(run_dir)) as folder:
        write_atomic(folder / "clips.csv", table.to_csv(index=False))
        # the embeddings other rules' results were chosen from stay (a checkpoint's are always the
        # same), unless this scoring reads other clips
        for old in sorted((scored_path(run_dir) / "embeddings").glob("*.npz")) if same_clips else ():
            (folder / "embeddings").mkdir(exist_ok=True)
            shutil.copy2(old, folder / "embeddings" / old.name)
        if own.parent == scored_path(run_dir):
            _save_npz(folder / own.name, per_checkpoint)
        else:  # another backend: the nearest neighbour's scores stay, this backend's go to its own folder
            if same_clips and (scored_path(run_dir) / own.name).is_file():
                shutil.copy2(scored_path(run_dir) / own.name, folder / own.name)
            own.parent.mkdir(parents=True, exist_ok=True)
            _save_npz(own, per_checkpoint)
        for epoch in sorted({e for picks in chosen.values() for e in picks.values()}, key=str):
            _save_npz(folder / embeddings_path(run_dir, epoch).relative_to(scored_path(run_dir)),
                      {k: v.astype(np.float32) for k, v in outputs[epoch].items()})

    # 4: one folder per rule and mode (rules that chose the same checkpoint share its thresholds)
    summaries: dict[str, dict[str, dict]] = {}
    thresholds_of = {}
    for rule in rules:
        for mode, kwargs in mode_specs.items():
            epoch = chosen[rule][mode]
            scores, train_scores = per_epoch[epoch, mode]
            if (epoch, mode) not in thresholds_of:
                thresholds_of[epoch, mode] = _thresholds(train_scores, sections[train_idx], machine)
            thresholds = thresholds_of[epoch, mode]
            selection = {"rule": rule, "epoch": epoch, "epochs": epochs, "complete": complete,
                         "planned_epochs": planned}
            if rule == "best_dev":
                selection["dev_hmean_per_epoch"] = dev_curve[mode]
            if rule in averaged_epochs:
                selection.update(averaged=averaged_epochs[rule], batch_norm="recomputed on one random chunk of "
                                 "every training clip (torch.optim.swa_utils.update_bn)")
            target = results_path(run_dir, rule, mode, scorer)
            rows = _kept_metrics(target, machine, test, scores, eval_keys, _section_rows(test, scores, pooled))
            with staged_folder(target) as folder:
                _write_official_files(folder, test, scores, thresholds, pooled)
                named = ["machine", "name", "section"] if pooled else ["name", "section"]  # pooled: names repeat
                train_table = clips.iloc[train_idx][named].assign(score=train_scores)
                write_atomic(folder / "train_scores.csv", train_table.to_csv(index=False))
                summary = {
                    "system": config.system, "mode": mode, "machine": machine,
                    "backend": scorer,
                    "weights": list(kwargs["weights"]) if kwargs and "weights" in kwargs else None,
                    "pooling": poolings if pooled else poolings[machine], "checkpoint": selection,
                    "thresholds": thresholds,
                    "percentile": {m: decision_percentile(m) for m in machines} if pooled else decision_percentile(machine),
                    "sections": rows, "dev": _hmeans(rows, dev_keys, machine), "eval": _hmeans(rows, eval_keys, machine),
                    "config": meta["run"], "code": meta.get("code"), "data_root": str(data_root),
                }
                write_atomic(folder / "summary.json", json.dumps(summary, indent=2))
            summaries.setdefault(rule, {})[mode] = summary
    return summaries


def _merged_epoch_scores(path: Path | None, needed: list[int], scores: dict[str, np.ndarray]) -> dict:
    """``{"epochs", mode: (n_checkpoints, n_clips)}``: this scoring's checkpoints ``needed`` with their
    ``scores``, plus the checkpoints an earlier scoring in ``path`` (of the same clips; None: none)
    held that this one did not score (a rescoring of the last checkpoint only keeps the earlier
    per-checkpoint scores of best_dev); an earlier file with other modes is replaced."""
    epochs = list(needed)
    out = {mode: list(rows) for mode, rows in scores.items()}
    if path is not None and path.is_file():
        old = np.load(path)
        if set(old.files) == {"epochs", *scores}:
            for i, epoch in enumerate(old["epochs"].tolist()):
                if epoch not in epochs:
                    epochs.append(epoch)
                    for mode in scores:
                        out[mode].append(old[mode][i])
    order = np.argsort(epochs)
    return {"epochs": np.array(epochs)[order], **{m: np.array(rows)[order] for m, rows in out.items()}}


def _kept_metrics(folder: Path, machine: str, test: pd.DataFrame, scores: np.ndarray, eval_keys,
                  rows: list[dict]) -> list[dict]:
    """``rows`` (this scoring's per-section metrics) with the eval sections' metrics of the summary
    already in ``folder`` added back when this scoring had no eval labels and scored every eval clip
    exactly as that one did (a rescoring without ``--truth`` keeps what a scoring with it measured);
    when the scores differ, the old metrics are dropped and a warning says so. ``eval_keys``: the
    (machine, section) pairs of the eval test clips; ``machine``: the run's (``all`` when pooled)."""
    from asdlib.metrics import anomaly_score_file_name, read_score_csv

    labelled = {_row_key(r, machine) for r in rows}
    missing = [k for k in eval_keys if k not in labelled]
    old = folder / "summary.json"
    if not missing or not old.is_file():
        return rows
    kept = [r for r in json.loads(old.read_text()).get("sections", []) if _row_key(r, machine) in missing]
    if not kept:
        return rows
    for of_machine, section in {_row_key(r, machine) for r in kept}:
        part = test[(test["machine"] == of_machine) & (test["section"] == section)]
        try:
            before = read_score_csv(folder / anomaly_score_file_name(of_machine, section))
        except (OSError, ValueError):
            before = {}
        if [before.get(n) for n in part["name"]] != [float(v) for v in scores[part.index.to_numpy()]]:
            print(f"asdlib score: warning: {folder}: the eval metrics of the earlier scoring were dropped: this "
                  f"scoring had no eval labels (no --truth) and scored {of_machine} section {section} otherwise",
                  file=sys.stderr)
            return rows
    return sorted(rows + kept, key=lambda r: _row_key(r, machine))


def _training_chunks(features, train_idx, settings, device):
    """One random chunk of every training clip (seeded), in batches on ``device``: the batch-norm data
    of an averaged model."""
    import torch

    rng = np.random.default_rng(0)
    chunks = []
    for i in train_idx:
        spec = np.asarray(features[i], dtype=np.float32)
        start = rng.integers(0, len(spec) - settings.chunk_frames + 1)
        chunks.append(spec[start:start + settings.chunk_frames])
    x = torch.from_numpy(np.stack(chunks))[:, None]
    return [x[i:i + settings.batch_size].to(device or "cpu").contiguous(memory_format=torch.channels_last)
            for i in range(0, len(x), settings.batch_size) if len(x[i:i + settings.batch_size]) > 1]


def _choose_epochs(rules, modes, epochs: list[int], dev_curve: dict) -> dict[str, dict[str, int]]:
    """rule -> mode -> epoch: "last" the last of ``epochs``; "best_dev" the first epoch with the best
    development-set score of that mode (``dev_curve[mode][epoch]``). No evaluation label is used."""
    return {rule: {mode: epochs[-1] if rule == "last" else max(epochs, key=lambda e: dev_curve[mode][e])
                   for mode in modes} for rule in rules}


def _thresholds(train_scores: np.ndarray, train_sections: np.ndarray, machine: str) -> dict[str, float]:
    """Section -> decision threshold: the gamma fit of the section's training scores at the machine's
    percentile (the official baseline's rule). Sections named ``<machine>/<section>`` (a run on every
    machine) take their own machine's percentile."""
    return {section: gamma_threshold(train_scores[train_sections == section],
                                     decision_percentile(section.split("/")[0] if "/" in section else machine))
            for section in np.unique(train_sections)}


def _write_official_files(folder: Path, test: pd.DataFrame, scores: np.ndarray, thresholds: dict[str, float],
                          pooled: bool) -> None:
    """The evaluator's two files per machine and section of ``test``; a clip is anomalous above its
    section's threshold (keyed ``<machine>/<section>`` when ``pooled``)."""
    for (machine, section), part in test.groupby(["machine", "section"]):
        rows = part.index.to_numpy()
        write_anomaly_scores(folder, machine, section, part["name"].tolist(), scores[rows])
        write_decision_results(folder, machine, section, part["name"].tolist(),
                               (scores[rows] > thresholds[f"{machine}/{section}" if pooled else section]).astype(int))


def _save_npz(path: Path, arrays: dict) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomic(path, buffer.getvalue())
