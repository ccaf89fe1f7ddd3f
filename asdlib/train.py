"""Surrogate-task training of one system on one machine (paper Sec. 3.2), resumable.

Each epoch takes one random 32-frame chunk of every training clip (all six sections: the dev and the
eval set's training clips), in a random order, in batches; Adam; a checkpoint every
``checkpoint_every`` epochs. The chunk positions and order of epoch ``e`` come from a generator
seeded by ``(seed, e)``, and each checkpoint holds the model and optimiser state, so a run that is
interrupted and started again with the same command resumes from its last checkpoint and ends with
the same weights as an uninterrupted run (on the same machine).

Run folder::

    RUN_DIR/config.json              resolved configuration (scale, system, machine, data, seed, code)
    RUN_DIR/checkpoints/epoch_NNNN.pt model + optimiser state, every checkpoint_every epochs
    RUN_DIR/train_log.csv            per epoch: loss, section and attribute accuracy, optimiser steps, seconds

Every file is written to a temporary name and renamed, so nothing is ever half-written. A checkpoint
holds only tensors and plain values, and is read as such (:func:`load_checkpoint`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

import asdlib
from asdlib import names
from asdlib.atomic import clean_stale, exclusive, write_atomic
from asdlib.data import AttributeVocab, detect_year, index_dataset
from asdlib.features import FeatureStore, concat_stores, load_features
from asdlib.scales import Scale, get_scale
from asdlib.speed import training_path
from asdlib.systems import ALL_SYSTEMS

ALL_MACHINES = "all"
MAX_SEED = 2**32 - 1


def machine_index(root: str | Path, truth: str | Path | None, machine: str, year: int | None = None) -> pd.DataFrame:
    """:func:`asdlib.data.index_dataset` of ``machine``'s clips (``"all"``: of every machine) in ``year``'s
    layout (None: read from the data, :func:`asdlib.data.detect_year`). A later year's machine lies in
    dev_data or in eval_data only, so its year's root is indexed whole and cut."""
    if machine == ALL_MACHINES:
        return index_dataset(root, truth=truth, year=year)
    year = detect_year(root) if year is None else year
    if year == 2022:
        return index_dataset(root, truth=truth, machines=(machine,), year=year)
    index = index_dataset(root, truth=truth, year=year)
    if not (index["machine"] == machine).any():
        raise FileNotFoundError(f"{root}: no {machine} folder in dev_data/ or eval_data/ (DCASE {year})")
    return index[index["machine"] == machine].reset_index(drop=True)


def known_machines() -> tuple[str, ...]:
    """Every machine folder name of DCASE 2022 to 2025 (:func:`asdlib.names.machines` of every year and data
    set), the 2022 seven first."""
    return tuple(dict.fromkeys(m for year in names.YEARS for dataset in names.DATA_SETS
                               for m in names.machines(year, dataset)))


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunConfig:
    """What a run is: everything needed to repeat it."""

    system: str
    machine: str            # a machine, or "all": pre-training on every machine of the data set
    data_root: str
    scale: Scale
    seed: int = 0
    truth_dir: str | None = None
    init: str | None = None  # a pre-trained run whose trunk and embedding layer start this one
    year: int | None = None  # the data's DCASE year; None: read from the data (asdlib.data.detect_year)

    @classmethod
    def create(cls, system: str, machine: str, data_root: str | Path, scale: str, seed: int = 0,
               truth_dir: str | Path | None = None, overrides: list[str] = (),
               init: str | Path | None = None, year: int | None = None) -> "RunConfig":
        """The configuration of a run: the named scale as ``system`` uses it (a direct system brings
        its own features and training settings, :func:`asdlib.systems.resolve_scale`), then
        ``overrides`` such as ``["train.epochs=10"]``."""
        from asdlib.systems import resolve_scale

        if system not in ALL_SYSTEMS:
            raise ValueError(f"unknown system {system!r}; choose one of {', '.join(ALL_SYSTEMS)}")
        if machine not in known_machines() and machine != ALL_MACHINES:
            raise ValueError(f"unknown machine {machine!r}; choose one of {', '.join(known_machines())} or "
                             f"{ALL_MACHINES!r} (pre-training on every machine)")
        if not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"--seed {seed!r}: must be an integer from 0 to {MAX_SEED}")
        if year is not None and year not in names.YEARS:
            raise ValueError(f"--year {year!r}: choose one of {', '.join(map(str, names.YEARS))}")
        if init and not (Path(init) / "config.json").is_file():
            raise ValueError(f"--init {init}: not a run folder (no config.json)")
        resolved = parse_overrides(list(overrides), resolve_scale(system, get_scale(scale))).validate()
        return cls(system=system, machine=machine, data_root=str(Path(data_root).resolve()), scale=resolved,
                   seed=seed, truth_dir=None if not truth_dir else str(Path(truth_dir).resolve()),
                   init=None if not init else str(Path(init).resolve()), year=year)

    @property
    def lr(self) -> float:
        """Learning rate (paper: 1e-4, and 1e-5 for ToyCar)."""
        return self.scale.train.lr_toycar if self.machine == "ToyCar" else self.scale.train.lr

    def as_dict(self) -> dict:
        out = {"system": self.system, "machine": self.machine, "data_root": str(self.data_root),
               "truth_dir": None if self.truth_dir is None else str(self.truth_dir), "seed": self.seed,
               "scale": self.scale.as_dict()}
        if self.init:
            out["init"] = self.init
        if self.year is not None:  # given only where the data cannot tell (a run without it names none)
            out["year"] = self.year
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        s = d["scale"]
        base = get_scale(s["name"])
        scale = Scale(name=s["name"], synth=type(base.synth)(**s["synth"]),
                      features=type(base.features)(**s["features"]), train=type(base.train)(**s["train"]),
                      model=type(base.model)(**s.get("model", {})))
        return cls(system=d["system"], machine=d["machine"], data_root=d["data_root"], scale=scale,
                   seed=d["seed"], truth_dir=d.get("truth_dir"), init=d.get("init"), year=d.get("year"))


def code_version() -> dict:
    """asdlib and torch versions, the CPU thread count (weights depend on it) and, when run from a git
    checkout, its commit and whether it had changes."""
    import torch

    here = Path(asdlib.__file__).resolve().parent.parent
    info = {"asdlib": asdlib.__version__, "torch": torch.__version__,
            "threads": torch.get_num_threads()}  # results depend on it (reduction order)
    try:
        commit = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--", "asdlib"],
                               capture_output=True, text=True, check=True).stdout.strip()
        info.update(commit=commit, dirty=bool(dirty))
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def save_torch_atomic(obj, path: Path) -> None:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomic(path, buffer.getvalue())


# --------------------------------------------------------------------------------------------
# Training data
# --------------------------------------------------------------------------------------------
@dataclass
class TrainingSet:
    """The training clips of one machine: spectrograms and surrogate-task labels.

    ``section`` (n_clips,), ``attributes`` (n_clips, n_keys) with -1 where a clip lacks a key,
    ``shift`` (n_clips,) the domain-shift attribute class (-1 if missing).
    """

    clips: pd.DataFrame
    features: FeatureStore
    vocab: AttributeVocab
    section: np.ndarray
    attributes: np.ndarray
    shift: np.ndarray

    @classmethod
    def build(cls, index: pd.DataFrame, machine: str, scale: Scale, cache_dir=None,
              progress: bool = True) -> "TrainingSet":
        clips = index[(index["machine"] == machine) & (index["split"] == "train")].reset_index(drop=True)
        vocab = AttributeVocab.from_index(index, machine)
        features = load_features(clips, scale.features, cache_dir=cache_dir, chunk_frames=1, progress=progress)
        short = np.flatnonzero(features.lengths < scale.train.chunk_frames)
        if len(short):
            named = ", ".join(f"{clips['path'][i]} ({features.lengths[i]})" for i in short[:5])
            raise ValueError(f"train.chunk_frames = {scale.train.chunk_frames}: must be at most the frames of the "
                             f"shortest clip; {len(short)} training clip(s) hold fewer: {named}"
                             f"{' and more' if len(short) > 5 else ''}; remove them or lower train.chunk_frames")
        section = np.array([vocab.encode_section(s) for s in clips["section"]], dtype=np.int64)
        attributes = np.array([vocab.encode_attributes(a) for a in clips["attributes"]],
                              dtype=np.int64).reshape(len(clips), len(vocab.keys))
        shift = np.array([vocab.encode_shift(machine, s, a) for s, a in zip(clips["section"], clips["attributes"])],
                         dtype=np.int64)
        return cls(clips, features, vocab, section, attributes, shift)

    @classmethod
    def merge(cls, sets: dict[str, "TrainingSet"]) -> "TrainingSet":
        """Several machines' training sets as one (pre-training on all machines): the section classes of
        every machine side by side (42 for seven machines of six sections), every machine's attribute
        keys as columns of their own (-1 for the other machines' clips), the vocabularies merged
        (:meth:`asdlib.data.AttributeVocab.merged`)."""
        n_keys = [len(t.vocab.keys) for t in sets.values()]
        attributes = np.full((sum(len(t.clips) for t in sets.values()), sum(n_keys)), -1, dtype=np.int64)
        sections, shifts, row, column, section_base, shift_base = [], [], 0, 0, 0, 0
        for t, keys in zip(sets.values(), n_keys):
            attributes[row:row + len(t.clips), column:column + keys] = t.attributes
            sections.append(t.section + section_base)
            shifts.append(np.where(t.shift >= 0, t.shift + shift_base, -1))
            row, column = row + len(t.clips), column + keys
            section_base, shift_base = section_base + len(t.vocab.sections), shift_base + len(t.vocab.shift_values)
        return cls(clips=pd.concat([t.clips for t in sets.values()], ignore_index=True),
                   features=concat_stores([t.features for t in sets.values()]),
                   vocab=AttributeVocab.merged({m: t.vocab for m, t in sets.items()}),
                   section=np.concatenate(sections), attributes=attributes, shift=np.concatenate(shifts))

    def epoch_batches(self, seed: int, epoch: int, batch_size: int, chunk_frames: int, chunks_per_clip: int = 1):
        """Batches of epoch ``epoch``: ``chunks_per_clip`` random chunks per clip (paper: one), in a
        random order.

        A last batch of a single chunk is dropped (batch norm needs two).

        Yields ``(x, labels)``: x float32 array (batch, 1, chunk_frames, n_bins), labels a dict of
        int64 arrays ``section`` (batch,), ``attributes`` (batch, n_keys), ``shift`` (batch,) and
        ``clip`` (batch,), the rows of :attr:`clips` the chunks come from.
        """
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(np.repeat(np.arange(len(self.clips)), chunks_per_clip))
        starts = self.features.offsets[order] + rng.integers(0, self.features.lengths[order] - chunk_frames + 1)
        window = np.arange(chunk_frames)
        for i in range(0, len(order), batch_size):
            pick = order[i:i + batch_size]
            if len(pick) < 2:  # batch norm cannot train on one chunk; its clip rejoins the next epoch
                break
            rows = starts[i:i + batch_size, None] + window  # (batch, chunk_frames) rows of the frame store
            x = np.asarray(self.features.frames[rows.ravel()], dtype=np.float32)
            x = x.reshape(len(pick), 1, chunk_frames, self.features.n_bins)
            yield x, {"section": self.section[pick], "attributes": self.attributes[pick],
                      "shift": self.shift[pick], "clip": pick}


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
def pick_device(device: str | None = None) -> str:
    """``device`` checked (``cpu``, ``cuda`` or ``cuda:N``, present in this torch), or by default
    ``cuda`` where there is one, else ``cpu``."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device)
    except RuntimeError:
        kind = None
    if kind is None or kind.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: not a device; choose cpu, cuda or cuda:N")
    if kind.type == "cuda" and (kind.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: this torch ({torch.__version__}) sees "
                         f"{torch.cuda.device_count()} CUDA device(s); choose cpu")
    return device


def batch_to_device(x: np.ndarray, labels: dict[str, np.ndarray], device: str):
    """A batch of chunks (B, 1, T, F) as a channels-last tensor on ``device`` and its labels as tensors.
    On CUDA the host arrays are pinned first, so the copies run asynchronously with the model."""
    import torch

    def move(array):
        tensor = torch.from_numpy(array)
        if device == "cuda":
            tensor = tensor.pin_memory()
        return tensor.to(device, non_blocking=True)
    return move(x).contiguous(memory_format=torch.channels_last), {k: move(v) for k, v in labels.items()}


def checkpoint_path(run_dir: Path, epoch: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"epoch_{epoch:04d}.pt"


def list_checkpoints(run_dir: Path) -> list[int]:
    """Epochs that have a complete checkpoint, ascending."""
    folder = Path(run_dir) / "checkpoints"
    return sorted(int(p.stem.split("_")[1]) for p in folder.glob("epoch_*.pt")) if folder.is_dir() else []


def _flatten(d, prefix: str = "") -> dict:
    out = {}
    for key, value in d.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(have: dict, want: dict, have_name: str, want_name: str, show: int = 6) -> str:
    """Which settings differ between two run configurations, as one readable line."""
    a, b = _flatten(have), _flatten(want)
    keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    text = "; ".join(f"{k} is {a.get(k)!r} {have_name}, {b.get(k)!r} {want_name}" for k in keys[:show])
    return text + (f"; and {len(keys) - show} more" if len(keys) > show else "")


def run_identity(config: RunConfig, vocab: AttributeVocab, model_config: dict) -> dict:
    """What a run is, as saved in ``config.json`` and in every checkpoint (compared on resume and scoring)."""
    return json.loads(json.dumps({"run": config.as_dict(), "vocab": vocab.as_dict(), "model": model_config}))


def clips_digest(paths) -> dict:
    """What a run's training clips hold: their count and one SHA-1 over every clip's file name and
    bytes, in training order (names only: the same data set elsewhere gives the same digest; a clip
    rewritten in place, with its size and time kept, gives another)."""
    total = hashlib.sha1()
    for path in paths:
        own = hashlib.sha1()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                own.update(block)
        total.update(Path(path).name.encode("utf-8") + b"\0" + own.digest())
    return {"clips": len(paths), "sha1": total.hexdigest()}


def _same_run(made: dict, identity: dict) -> tuple[dict, dict]:
    """``made`` and ``identity`` as they are compared: a run written before identities held the
    training clips' digest (``data``) is compared without it."""
    if made.get("data") is None:
        return {k: v for k, v in made.items() if k != "data"}, {k: v for k, v in identity.items() if k != "data"}
    return made, identity


def _differences(made: dict, identity: dict, made_name: str, want_name: str) -> str:
    if made.get("data") != identity.get("data") and {k: v for k, v in made.items() if k != "data"} == \
            {k: v for k, v in identity.items() if k != "data"}:
        return (f"the same settings, but other training clips: {made['data']['clips']} clips with content "
                f"digest {made['data']['sha1'][:12]} {made_name}, {identity['data']['clips']} with "
                f"{identity['data']['sha1'][:12]} {want_name}: a clip was rewritten, added or removed")
    return config_differences(made, identity, made_name, want_name)


def identity_of(meta: dict) -> dict:
    """The identity part of a run's ``config.json`` (all but the code version)."""
    return {k: v for k, v in meta.items() if k != "code"}


def read_run_config(run_dir: str | Path) -> dict:
    """A run folder's ``config.json``. Where it was lost but checkpoints remain, the configuration they
    were made by (the last one's identity) is written back to it first, with a note; call it only
    where no other process writes the folder (under :func:`asdlib.atomic.exclusive`)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        epochs = list_checkpoints(run_dir)
        if not epochs:
            raise FileNotFoundError(f"{run_dir}: not a run folder (no config.json)")
        identity = load_checkpoint(run_dir, epochs[-1], "cpu").get("identity")
        if not identity:
            raise ValueError(f"{checkpoint_path(run_dir, epochs[-1])}: records no configuration, and {path} is lost")
        source = checkpoint_path(run_dir, epochs[-1]).name
        write_atomic(path, json.dumps({**identity, "code": {"restored_from": source}}, indent=2))
        print(f"asdlib: note: {path} was missing: restored from checkpoints/{source}", file=sys.stderr)
    return json.loads(path.read_text())


def prepare_run(run_dir: Path, identity: dict, training: dict | None = None) -> None:
    """Write ``config.json`` (with the code version and, given ``training``, the training path of
    :mod:`asdlib.speed`), or check that an existing run folder (its ``config.json``, or where that was
    lost its checkpoints) holds the same configuration."""
    path = Path(run_dir) / "config.json"
    if path.is_file() or list_checkpoints(run_dir):
        have = read_run_config(run_dir)
        have, want = _same_run({k: have.get(k) for k in identity}, identity)
        if have != want:
            raise ValueError(f"{run_dir}: holds a run with another configuration "
                             f"({_differences(have, want, 'there', 'here')}); "
                             "choose another --out, or remove the folder to start afresh")
        return
    code = {**code_version(), **({"training": training} if training is not None else {})}
    write_atomic(path, json.dumps({**identity, "code": code}, indent=2))


def load_checkpoint(run_dir: Path, epoch: int, device, identity: dict | None = None) -> dict:
    """A checkpoint's state, checked: readable, holding only tensors and plain values (read with
    ``weights_only=True``: a run folder from elsewhere runs no code here), and (given ``identity``) made
    by the same configuration."""
    import torch

    path = checkpoint_path(run_dir, epoch)
    try:
        state = torch.load(path, map_location=device, weights_only=True)  # unpickles no code
    except pickle.UnpicklingError as err:
        if not str(err).startswith("Weights only load failed"):
            raise _unreadable(path, run_dir, epoch, err) from None
        found = re.search(r"GLOBAL (\S+)", str(err))
        raise ValueError(f"{path}: refused: it holds {found[1] if found else 'an object'}, not only tensors and "
                         "plain values, and loading it could run code (asdlib's checkpoints hold only those)") from None
    except Exception as err:
        raise _unreadable(path, run_dir, epoch, err) from None
    made = state.get("identity")
    if identity is not None and (not made or _same_run(made, identity)[0] != _same_run(made, identity)[1]):
        detail = (_differences(*_same_run(made, identity), "in the checkpoint", "now") if made
                  else "it records no configuration")
        raise ValueError(f"{path}: made by another configuration ({detail}); remove the run folder to "
                         "start afresh")
    return state


def _unreadable(path: Path, run_dir: Path, epoch: int, err: Exception) -> ValueError:
    earlier = [e for e in list_checkpoints(run_dir) if e < epoch]
    then = f"to resume from epoch {earlier[-1]}" if earlier else "to start afresh"
    first = (str(err).strip().splitlines() or [""])[0]  # torch's messages run over several lines
    return ValueError(f"{path}: cannot be read ({type(err).__name__}: {first}); it may be truncated: "
                      f"remove it and run again {then}")


PRETRAIN_SHARE = 0.4
"""Share of a scale's epochs spent pre-training on every machine (the rest fine-tunes each machine)."""


def checkpoint_epochs(settings) -> list[int]:
    """The epochs at which a run of these training settings saves a checkpoint: every
    ``checkpoint_every`` epochs, and the last."""
    every, epochs = settings.checkpoint_every, settings.epochs
    return [e for e in range(1, epochs + 1) if e % every == 0 or e == epochs]


def pipeline_overrides(scale: Scale, stage: str) -> list[str]:
    """Settings of the pre-training ("pretrain") or fine-tuning ("finetune") stage at the same total
    budget of optimiser steps as training each machine from scratch for the scale's E epochs:
    pre-training runs P = round(0.4 E) epochs over all machines' clips (7 P machine-epochs of steps),
    fine-tuning E - P epochs per machine (7 (E - P)); together 7 E, as seven runs from scratch. Fine-
    tuning keeps two checkpoints, at ceil((E - P) / 2) and E - P epochs, so that averaging them is
    possible (quick: epochs 3 and 5; paper: 90 and 180)."""
    epochs = scale.train.epochs
    pre = max(1, min(epochs - 1, round(PRETRAIN_SHARE * epochs)))
    if stage == "pretrain":
        return [f"train.epochs={pre}", f"train.checkpoint_every={pre}"]
    if stage == "finetune":
        return [f"train.epochs={epochs - pre}", f"train.checkpoint_every={-(-(epochs - pre) // 2)}"]
    raise ValueError(f"stage {stage!r}: 'pretrain' or 'finetune'")


def pretrained_identity(run_dir: str | Path) -> dict:
    """What a fine-tuned run starts from: the pre-trained run folder, its last checkpoint and that
    file's SHA-256 (so a changed pre-training is a changed configuration)."""
    import hashlib

    epochs = list_checkpoints(run_dir)
    if not epochs:
        raise FileNotFoundError(f"--init {run_dir}: no checkpoint; pre-train it first")
    path = checkpoint_path(run_dir, epochs[-1])
    return {"run": str(Path(run_dir).resolve()), "epoch": epochs[-1],
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def start_from_pretrained(model, run_dir: str | Path, device) -> list[str]:
    """Copy a pre-trained run's trunk and embedding layer (its last checkpoint) into ``model``; the
    classifiers, whose classes differ (one machine's sections and attributes), start afresh.
    Returns the names of the tensors copied."""
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "config.json").read_text())
    state = load_checkpoint(run_dir, list_checkpoints(run_dir)[-1], device,
                            identity_of(meta))["model"]
    own = model.state_dict()
    shared = [k for k in state if k.startswith(("trunk.", "embedding.")) and k in own]
    wrong = [k for k in shared if own[k].shape != state[k].shape]
    if wrong or not shared:
        raise ValueError(f"--init {run_dir}: its network does not fit this run's "
                         f"({', '.join(wrong[:3]) or 'no trunk'}); pre-train with the same system, scale and width")
    model.load_state_dict({**own, **{k: state[k] for k in shared}})
    return shared


def refuse_single_class_tasks(system: str, machine: str, index: pd.DataFrame) -> None:
    """Refuse a surrogate task of ``system`` with one class in the training clips of ``machine`` (of every
    machine for ``all``): its loss is 0 from the first step and nothing is learnt, as on a data set of one
    section per machine (the DCASE 2023-2025 layout); and the attribute tasks when no clip carries an
    attribute. A machine without attributes among others with them only has no attribute task (its
    labels are missing, Eq. 3). Checked on the index, before any feature is computed."""
    from asdlib.systems import EMBEDDING_SYSTEMS

    present = sorted(set(index.loc[index["split"] == "train", "machine"]))
    vocabs = {m: AttributeVocab.from_index(index, m) for m in present if machine in (m, ALL_MACHINES)}
    sections = [(m, s) for m, vocab in vocabs.items() for s in vocab.sections]
    if system in EMBEDDING_SYSTEMS + ("mn",) and len(sections) == 1:  # the systems that classify sections
        (m, section), = sections
        if machine == ALL_MACHINES:
            raise ValueError(f"all: the section task has one class ({m} section {section}): nothing to learn; "
                             "the data set holds one section of one machine")
        raise ValueError(f"{machine}: the section task has one class (section {section}): nothing to learn; "
                         "train on several machines with --machine all")
    if system in ("mtl", "disent", "disent_split"):  # the systems that classify attributes, one task per key
        if not any(vocab.keys for vocab in vocabs.values()):  # every machine noAttribute (DCASE 2024-2025)
            raise ValueError(f"{machine}: no training clip carries an attribute ({', '.join(vocabs)}: noAttribute): "
                             "the attribute tasks have nothing to learn; choose sec_softmax or sec_arcface")
        for m, vocab in vocabs.items():
            for key, values in vocab.values.items():
                if len(values) == 1:
                    raise ValueError(f"{m}: the attribute task {key} has one class ({key}={values[0]}): nothing "
                                     "to learn; choose a system without attribute tasks (sec_softmax, sec_arcface)")


class TrainingDiverged(ValueError):
    """The loss became NaN or infinite; the message names the run, epoch, batch and any bad input clips."""


def train(config: RunConfig, run_dir: str | Path, cache_dir=None, device: str | None = None,
          progress: bool = True, on_epoch_end: Callable[[int, dict], None] | None = None,
          index: pd.DataFrame | None = None) -> Path:
    """Train ``config.system`` on ``config.machine`` into ``run_dir``, resuming if it holds checkpoints.

    Returns the path of the last checkpoint. ``on_epoch_end(epoch, stats)`` is called after every
    epoch (e.g. for notebooks). Training uses channels_last; on CUDA bfloat16 autocast; on a CPU the
    path :func:`asdlib.speed.training_path` names (eager float32 unless ``ASDLIB_COMPILE`` or
    ``ASDLIB_BF16`` is set).
    """
    import torch
    from tqdm.auto import tqdm

    from asdlib import systems

    run_dir = Path(run_dir)
    settings = config.scale.train
    config.scale.validate()
    device = pick_device(device)
    if index is None:
        index = machine_index(config.data_root, config.truth_dir, config.machine, config.year)
    refuse_single_class_tasks(config.system, config.machine, index)
    if config.machine == ALL_MACHINES:
        present = sorted(set(index["machine"]))  # the index's order (2022: asdlib.names.MACHINES)
        data = TrainingSet.merge({m: TrainingSet.build(index, m, config.scale, cache_dir=cache_dir, progress=progress)
                                  for m in present})
    else:
        data = TrainingSet.build(index, config.machine, config.scale, cache_dir=cache_dir, progress=progress)
    torch.manual_seed(config.seed)
    model = systems.build(config.system, n_bins=config.scale.features.n_bins, n_sections=len(data.vocab.sections),
                          attribute_classes=data.vocab.attribute_classes,
                          shift_sections=data.vocab.shift_sections,
                          chunk_frames=settings.chunk_frames, width=config.scale.model.width)
    identity = run_identity(config, data.vocab, model.describe())
    identity["data"] = clips_digest(data.clips["path"])
    if config.init:  # refused here, before the run folder is written, if its network does not fit
        identity["init"] = pretrained_identity(config.init)
        source = json.loads((Path(config.init) / "config.json").read_text())["run"]["machine"]
        if source not in (ALL_MACHINES, config.machine):
            print(f"asdlib train: warning: --init {config.init} was trained on {source} only, not on every machine "
                  f"(--machine all); its trunk starts this {config.machine} run", file=sys.stderr)
        start_from_pretrained(model, config.init, "cpu")  # a resumed run's checkpoint then replaces it
    with exclusive(run_dir):
        for folder in (run_dir, run_dir / "checkpoints"):
            clean_stale(folder)
        path = training_path(device)
        prepare_run(run_dir, identity, path.as_dict())
        return _train_loop(config, run_dir, data, model, identity, device, path, progress, on_epoch_end)


def _train_loop(config, run_dir, data, model, identity, device, path, progress, on_epoch_end) -> Path:
    import torch
    from tqdm.auto import tqdm

    settings = config.scale.train
    model = path.prepare(model.to(device=device, memory_format=torch.channels_last))
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    done = list_checkpoints(run_dir)
    first_epoch = 1
    log_rows: list[dict] = []
    if done:
        state = load_checkpoint(run_dir, done[-1], device, identity)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        log_rows = state["log"]
        first_epoch = done[-1] + 1
    if first_epoch > settings.epochs:
        return checkpoint_path(run_dir, done[-1])

    autocast = path.autocast(device)
    n_batches = -(-len(data.clips) * settings.chunks_per_clip // settings.batch_size)
    saved_epochs = set(checkpoint_epochs(settings))
    bar = tqdm(total=(settings.epochs - first_epoch + 1) * n_batches, disable=not progress,
               desc=f"{config.system} {config.machine}", unit="batch")
    try:
        for epoch in range(first_epoch, settings.epochs + 1):
            model.train()
            started, sums, counts = time.perf_counter(), {}, {}
            for step, (x, labels) in enumerate(data.epoch_batches(config.seed, epoch, settings.batch_size,
                                                                  settings.chunk_frames, settings.chunks_per_clip)):
                if hasattr(model, "set_training_progress"):  # the adversary's reversal schedule (asdlib.models.mobilefacenet)
                    model.set_training_progress((epoch - 1 + step / n_batches) / settings.epochs)
                clips = labels.pop("clip")
                x, batch = batch_to_device(x, labels, device)
                with autocast:
                    outputs = model(x)
                loss, stats = model.loss(_float32(outputs), batch)
                if not torch.isfinite(loss):
                    raise _diverged(run_dir, data, x, clips, epoch, step, list_checkpoints(run_dir))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                for key, value in {"loss": float(loss.detach()), **stats}.items():
                    if np.isfinite(value):  # an accuracy is NaN when no clip of the batch has the label
                        sums[key] = sums.get(key, 0.0) + float(value) * len(x)
                        counts[key] = counts.get(key, 0) + len(x)
                bar.update(1)
                bar.set_postfix({k: f"{sums[k] / counts[k]:.3f}" for k in ("loss", "section_acc") if k in sums},
                                refresh=False)
            row = {"epoch": epoch, **{k: sums[k] / counts[k] for k in sums}, "steps": step + 1,
                   "seconds": time.perf_counter() - started}
            log_rows.append(row)
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
            if epoch in saved_epochs:
                if not all(torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point()):
                    raise _diverged(run_dir, data, None, [], epoch, None, list_checkpoints(run_dir))
                save_torch_atomic({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                                   "epoch": epoch, "log": log_rows, "identity": identity},
                                  checkpoint_path(run_dir, epoch))
                write_atomic(run_dir / "train_log.csv", pd.DataFrame(log_rows).to_csv(index=False))
    finally:
        bar.close()  # an error is then printed on a line of its own
    return checkpoint_path(run_dir, settings.epochs)


def _diverged(run_dir, data, x, clips, epoch, step, saved) -> TrainingDiverged:
    where = f"epoch {epoch}" + (f", batch {step + 1}" if step is not None else " (weights)")
    message = f"{run_dir}: training diverged at {where}: the loss is not finite"
    if x is not None:
        bad = [str(data.clips["path"][c]) for c, ok in zip(clips, x.flatten(1).isfinite().all(1).tolist()) if not ok]
        if bad:  # features are computed only from audio checked finite: the cache was damaged since
            message += (f"; the cached features of these input clips are NaN or infinite: {', '.join(sorted(set(bad)))} "
                        f"(their audio was checked finite; remove the damaged cache entry "
                        f"{' or '.join(data.features.folders)} and run again)")
    message += (f". No checkpoint of that epoch was written (the last good one is epoch {saved[-1]})" if saved
                else ". No checkpoint was written")
    return TrainingDiverged(message + "; lower train.lr or check the data.")


def load_model(run_dir: str | Path, epoch: int | None = None, device: str | None = None):
    """The model of a run at ``epoch`` (default: the last checkpoint), in eval mode.

    Returns ``(model, config_json)``.
    """
    import torch

    from asdlib import systems

    run_dir = Path(run_dir)
    meta = read_run_config(run_dir)
    epochs = list_checkpoints(run_dir)
    if not epochs:
        raise FileNotFoundError(f"{run_dir}: no checkpoint; train it first")
    epoch = epochs[-1] if epoch is None else epoch
    device = pick_device(device)
    model = systems.from_config(meta["model"])
    state = load_checkpoint(run_dir, epoch, device, identity_of(meta))
    model.load_state_dict(state["model"])
    return model.to(device=device, memory_format=torch.channels_last).eval(), meta


def load_averaged_model(run_dir: str | Path, k: int, batches, device: str | None = None):
    """The average of the weights of the run's last ``k`` checkpoints, in eval mode, with its batch-norm
    statistics recomputed (the top rank's "average model weights from multiple epochs"; SWA).

    Every floating-point parameter and buffer is the exact mean of the ``k`` checkpoints' values; the
    batch-norm running means and variances of such an average describe no network that ran, so they
    are then recomputed as SWA prescribes, by ``torch.optim.swa_utils.update_bn`` over ``batches``
    (an iterable of input chunks (B, 1, T, F): the caller passes training chunks). With ``k = 1``
    it is the last checkpoint with recomputed statistics.

    Returns ``(model, config_json, epochs averaged)``.
    """
    import torch
    from torch.optim.swa_utils import update_bn

    run_dir = Path(run_dir)
    epochs = list_checkpoints(run_dir)
    if not 1 <= k <= len(epochs):
        raise ValueError(f"{run_dir}: cannot average the last {k} checkpoints; it has {len(epochs)} ({epochs})")
    chosen = epochs[-k:]
    model, meta = load_model(run_dir, epoch=chosen[-1], device=device)
    identity = identity_of(meta)
    states = [load_checkpoint(run_dir, e, model_device(model), identity)["model"] for e in chosen]
    averaged = {name: (sum(s[name].double() for s in states) / k).to(value.dtype) if value.is_floating_point()
                else value for name, value in states[-1].items()}
    model.load_state_dict(averaged)
    update_bn(batches, model, device=model_device(model))
    return model.eval(), meta, chosen


def model_device(model):
    return next(model.parameters()).device


def _float32(outputs: dict) -> dict:
    """Losses are computed in float32 even when the forward pass ran under autocast."""
    return {k: v.float() if hasattr(v, "is_floating_point") and v.is_floating_point() else v
            for k, v in outputs.items()}


def parse_overrides(items: list[str], scale: Scale) -> Scale:
    """``["train.epochs=10"]`` -> a scale with that setting (values cast to the field's type); an
    unknown key or a value of the wrong type is refused naming the key (ranges: :meth:`Scale.validate`)."""
    out = scale
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not KEY=VALUE (e.g. train.epochs=10)")
        if key not in Scale.keys():
            raise ValueError(f"unknown setting {key!r}; the settings are: {', '.join(Scale.keys())}")
        current = getattr(getattr(scale, key.split(".")[0]), key.split(".")[1])
        kind = type(current)
        try:
            value = kind(raw) if kind is not int else int(raw, 10)
        except ValueError:
            raise ValueError(f"{key} = {raw!r}: must be {'an integer' if kind is int else 'a number'}") from None
        out = out.replace(**{key: value})
    return out
