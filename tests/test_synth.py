"""The synthetic stand-in (``asdlib.synth``): real layout and names, attribute design, evaluator files,
determinism, and the difficulty checks of its design (the ``asdlib.synth`` docstring)."""
from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sklearn.covariance import LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from asdlib import cli
from asdlib.data import domain_shift_key
from asdlib.names import DEV_SECTIONS, EVAL_SECTIONS, MACHINES, parse_clip_name
from asdlib.scales import SynthSize, get_scale
from asdlib.synth import generate
from asdlib.synth.anomalies import ANOMALY_TYPES, SEVERITY_RANGE, Fault
from asdlib.synth.attributes import section_design
from asdlib.synth import ladder
from asdlib.synth.clip import SETTINGS, UNIT_SD, audio, render, section_base
from asdlib.synth.writer import clip_count, plan_section

SEED = 3
SMALL = SynthSize(clip_seconds=1.0, train_source=3, train_target=2, test_per_domain=2, eval_test=8)
SR = 16_000


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A tiny set of all seven machines (546 one-second clips)."""
    return generate(tmp_path_factory.mktemp("synth") / "data", SMALL, seed=SEED, progress=False)


def _wavs(root: Path, folder: str, machine: str, split: str) -> list[str]:
    return sorted(p.name for p in (root / folder / machine / split).glob("*.wav"))


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return [row for row in csv.reader(handle)]


def _pairs(fields: list[str]) -> dict[str, str]:
    return dict(zip(fields[0::2], fields[1::2]))


# ---------------------------------------------------------------------------------------------
# Layout, names, attributes
# ---------------------------------------------------------------------------------------------
def test_layout_counts_and_indices(dataset):
    assert sorted(p.name for p in dataset.iterdir()) == ["anomaly_causes.csv", "dev_data", "eval_data",
                                                         "eval_truth", "synth.json"]
    for machine in MACHINES:
        assert sorted(p.name for p in (dataset / "dev_data" / machine).iterdir()) == [
            "attributes_00.csv", "attributes_01.csv", "attributes_02.csv", "test", "train"]
        assert sorted(p.name for p in (dataset / "eval_data" / machine).iterdir()) == [
            "attributes_03.csv", "attributes_04.csv", "attributes_05.csv", "test", "train"]
        for folder, sections in (("dev_data", DEV_SECTIONS), ("eval_data", EVAL_SECTIONS)):
            groups: dict[tuple, list[int]] = {}
            for split in ("train", "test"):
                for name in _wavs(dataset, folder, machine, split):
                    clip = parse_clip_name(name)
                    assert clip.split == split and clip.section in sections
                    groups.setdefault((clip.section, split, clip.domain, clip.label), []).append(clip.index)
            expected = {}
            for section in sections:
                expected[(section, "train", "source", "normal")] = SMALL.train_source
                expected[(section, "train", "target", "normal")] = SMALL.train_target
                if folder == "dev_data":
                    for domain in ("source", "target"):
                        for label in ("normal", "anomaly"):
                            expected[(section, "test", domain, label)] = SMALL.test_per_domain
                else:
                    expected[(section, "test", None, None)] = SMALL.eval_test
            assert {k: len(v) for k, v in groups.items()} == expected, (machine, folder)
            for key, indices in groups.items():  # indices restart at 0000 per domain and label, as in the real set
                assert sorted(indices) == list(range(len(indices))), (machine, key)
        assert _wavs(dataset, "eval_data", machine, "test") == [
            f"section_{s}_{i:04d}.wav" for s in EVAL_SECTIONS for i in range(SMALL.eval_test)]
    assert clip_count(SMALL) == sum(1 for _ in dataset.glob("*_data/*/*/*.wav")) == 546


def test_wav_format(dataset):
    for path in dataset.glob("*_data/*/*/*.wav"):
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (SR, 1, "PCM_16", "WAV"), path
        assert info.frames == int(SMALL.clip_seconds * SR), path


# The real set's attribute table: per section, (keys of source clips, keys of target clips), and
# the shift key's source -> target values where the table lists them.
KEYS = {
    "fan": [(("m-n",),) * 2, (("f-n",),) * 2, (("n-lv",),) * 2],
    "gearbox": [(("volt",),) * 2, (("wt",),) * 2, (("id",),) * 2],
    "bearing": [(("vel",),) * 2, (("vel", "loc"),) * 2, (("vel", "f-n"),) * 2],
    "slider": [(("vel",),) * 2, (("ac",),) * 2, (("f-n",),) * 2],
    "valve": [(("pat",),) * 2, (("pat", "panel"),) * 2, (("v1pat",), ("v1pat", "v2pat"))],
    "ToyCar": [(("car", "spd", "mic", "noise"),) * 2] * 3,
    "ToyTrain": [(("car", "spd", "mic", "noise"),) * 2] * 3,
}
SHIFT_VALUES = {
    ("fan", "00"): ({"W", "X"}, {"Y", "Z"}), ("fan", "01"): ({"A", "B"}, {"C"}), ("fan", "04"): ({"A", "B"}, {"D"}),
    ("fan", "02"): ({"L1", "L2"}, {"L3", "L4"}), ("gearbox", "02"): ({"05", "08", "13"}, {"00", "02", "11"}),
    ("bearing", "01"): (set("ABCD"), set("EFGH")), ("bearing", "02"): ({"A", "B"}, {"C"}),
    ("slider", "02"): ({"A", "B"}, {"C"}), ("valve", "00"): ({"00", "01"}, {"02", "03"}),
    ("valve", "01"): ({"bs-c", "open"}, {"b-c", "s-c"}), ("ToyCar", "00"): ({"A1", "A2", "E1", "E2"}, {"C1", "C2"}),
    ("ToyCar", "01"): ({"28V", "40V"}, {"31V", "37V"}), ("ToyTrain", "01"): ({"6", "10"}, {"7", "9"}),
    ("ToyCar", "02"): ({"1"}, {"2"}), ("ToyTrain", "02"): ({"1"}, {"2"}),
}
NUMERIC_RANGES = {  # shift key: (source range, target range) from the table
    ("gearbox", "00"): ((1.0, 3.0), (0.5, 3.5)), ("gearbox", "01"): ((0, 200), (30, 250)),
    ("bearing", "00"): ((6, 22), (2, 26)), ("slider", "00"): ((300, 1100), (100, 1300)),
    ("slider", "01"): ((0.03, 0.11), (0.01, 0.14)),
}


@pytest.mark.parametrize("machine", MACHINES)
def test_attribute_design_follows_the_table(machine):
    for section in DEV_SECTIONS + EVAL_SECTIONS:
        design = section_design(machine, section)
        source_keys, target_keys = KEYS[machine][int(section) % 3]
        assert tuple(design.source) == source_keys and tuple(design.target) == target_keys, (machine, section)
        assert design.shift_key == domain_shift_key(machine, section)
        src, tgt = set(design.source[design.shift_key]), set(design.target[design.shift_key])
        assert src and tgt and not src & tgt, (machine, section)
        mirror = (machine, section) if (machine, section) in SHIFT_VALUES else (machine, DEV_SECTIONS[int(section) % 3])
        if mirror in SHIFT_VALUES:
            assert (src, tgt) == SHIFT_VALUES[mirror], (machine, section)
        if mirror in NUMERIC_RANGES:
            for values, (lo, hi) in zip((src, tgt), NUMERIC_RANGES[mirror]):
                assert all(lo <= float(v) <= hi for v in values), (machine, section, values)
        for key in design.source.keys() & design.target.keys() - {design.shift_key}:
            assert design.source[key] == design.target[key]


def test_clip_attributes_follow_the_design(dataset):
    """Every labelled clip carries its domain's keys in order, with design values; the shift key's
    source and target values are disjoint in the files too."""
    for machine in MACHINES:
        seen: dict[tuple, set] = {}
        for path in dataset.glob(f"*_data/{machine}/*/section_*_*_*.wav"):
            clip = parse_clip_name(path.name)
            design = section_design(machine, clip.section)
            values = design.values(clip.domain)
            assert tuple(clip.attributes) == tuple(values), path.name
            assert all(clip.attributes[k] in values[k] for k in values), path.name
            seen.setdefault((clip.section, clip.domain), set()).add(clip.attributes[design.shift_key])
        for section in DEV_SECTIONS + EVAL_SECTIONS:
            assert seen[(section, "source")] and not seen[(section, "source")] & seen[(section, "target")]


def test_attribute_csv_files(dataset):
    for machine in MACHINES:
        for folder, sections in (("dev_data", DEV_SECTIONS), ("eval_data", EVAL_SECTIONS)):
            for section in sections:
                rows = _rows(dataset / folder / machine / f"attributes_{section}.csv")
                pairs = section_design(machine, section).max_pairs
                assert rows[0] == ["file_name"] + [f"d{i}{c}" for i in range(1, pairs + 1) for c in "pv"]
                listed = {row[0]: row[1:] for row in rows[1:]}
                names = {f"{machine}/{split}/{n}" for split in ("train", "test")
                         for n in _wavs(dataset, folder, machine, split) if n.startswith(f"section_{section}_")}
                assert set(listed) == names and len(rows) - 1 == len(names)
                for relative, fields in listed.items():
                    name = relative.rsplit("/", 1)[1]
                    if folder == "eval_data" and "/test/" in relative:
                        assert fields == [], relative   # anonymised: the file name only
                    else:
                        assert _pairs(fields) == parse_clip_name(name).attributes and len(fields) <= 2 * pairs


def test_eval_ground_truth_matches_full_names(dataset):
    truth = dataset / "eval_truth"
    for machine in MACHINES:
        for section in EVAL_SECTIONS:
            stem = f"ground_truth_{machine}_section_{section}_test.csv"
            labels = dict(_rows(truth / "ground_truth_data" / stem))
            domains = dict(_rows(truth / "ground_truth_domain" / stem))
            rows = _rows(truth / "ground_truth_attributes" / machine / f"attributes_{section}.csv")
            pairs = section_design(machine, section).max_pairs
            assert rows[0] == (["file_name"] + [f"d{i}{c}" for i in range(1, pairs + 1) for c in "pv"]
                               + ["file_name_with_full_attributes"])
            names = [n for n in _wavs(dataset, "eval_data", machine, "test") if n.startswith(f"section_{section}_")]
            assert list(labels) == list(domains) == names
            cells = []
            for row in rows[1:]:
                name = row[0].rsplit("/", 1)[1]
                assert row[0] == f"{machine}/test/{name}" and row[-1].startswith(f"{machine}/test/")
                full = parse_clip_name(row[-1])
                assert (full.section, full.split) == (section, "test")
                assert labels[name] == str(int(full.label == "anomaly"))
                assert domains[name] == str(int(full.domain == "target"))
                assert _pairs(row[1:-1]) == full.attributes
                cells.append((full.domain, full.label))
            assert sorted(n for n in (r[0].rsplit("/", 1)[1] for r in rows[1:])) == names
            assert set(Counter(cells).values()) == {SMALL.eval_test // 4} and len(Counter(cells)) == 4
            unshuffled = sorted(cells, key=lambda c: (c[0] != "source", c[1] != "normal"))
            assert cells != unshuffled, "eval test clips are not shuffled"


def test_anomaly_causes_and_provenance(dataset):
    rows = _rows(dataset / "anomaly_causes.csv")
    assert rows[0] == ["machine", "split_folder", "file_name", "anomaly_type", "severity"]
    listed = {(r[0], r[1], r[2]): (r[3], float(r[4])) for r in rows[1:]}
    expected = set()
    for machine in MACHINES:
        expected |= {(machine, "dev_data", n) for n in _wavs(dataset, "dev_data", machine, "test") if "_anomaly_" in n}
        for section in EVAL_SECTIONS:
            stem = f"ground_truth_{machine}_section_{section}_test.csv"
            truth = _rows(dataset / "eval_truth" / "ground_truth_data" / stem)
            expected |= {(machine, "eval_data", n) for n, y in truth if y == "1"}
    assert set(listed) == expected and len(rows) - 1 == len(expected)
    for (machine, _, _), (kind, severity) in listed.items():
        assert kind in ANOMALY_TYPES[machine] and SEVERITY_RANGE[0] <= severity <= SEVERITY_RANGE[1]
    info = json.loads((dataset / "synth.json").read_text())
    assert info["seed"] == SEED and info["strength"] == 1.0 and info["machines"] == list(MACHINES)
    assert info["size"] == {"clip_seconds": 1.0, "train_source": 3, "train_target": 2, "test_per_domain": 2,
                            "eval_test": 8}
    assert {"asdlib_version", "format_version"} <= set(info)


# ---------------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------------
def _files(root: Path, pattern: str = "**/*") -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob(pattern)) if p.is_file()}


def test_same_seed_same_bytes_and_subsets_match(dataset, tmp_path):
    """The same bytes for any order of machines and any number of writing processes; a subset of
    machines writes their files as the full set does; another seed changes every clip."""
    a = generate(tmp_path / "a", SMALL, seed=SEED, machines=("valve", "fan"), progress=False)
    b = generate(tmp_path / "b", SMALL, seed=SEED, machines=("fan", "valve"), progress=False, workers=3)
    assert _files(a) == _files(b)
    for machine in ("fan", "valve"):
        for pattern in (f"*_data/{machine}/**/*", f"eval_truth/*/*{machine}*", f"eval_truth/*/{machine}/*"):
            subset, full = _files(a, pattern), _files(dataset, pattern)
            assert subset and subset == full, (machine, pattern)
    other = generate(tmp_path / "c", SMALL, seed=SEED + 1, machines=("fan",), progress=False)
    wavs, other_wavs = _files(a, "*_data/fan/*/*.wav"), _files(other, "*_data/fan/*/*.wav")
    changed = [k for k in other_wavs if k in wavs and wavs[k] != other_wavs[k]]
    assert len(changed) == sum(k in wavs for k in other_wavs) > 0


def test_files_hold_the_rendered_clips(dataset):
    """What ``generate`` writes is ``render`` of the planned clips (the difficulty checks below use render)."""
    for machine in ("ToyTrain", "valve"):
        train, test = plan_section(SEED, machine, "01", SMALL)
        for spec in (train[0], test[-1]):
            data, _ = soundfile.read(str(dataset / "dev_data" / machine / spec.split / spec.labelled_name),
                                     dtype="int16")
            assert np.array_equal(data, render(spec, SEED, 1.0, SMALL.clip_seconds))


@pytest.mark.parametrize("machine", MACHINES)
def test_every_anomaly_type_changes_the_clip_and_strength_zero_changes_nothing(machine):
    _, test = plan_section(SEED, machine, "00", SMALL)
    spec = next(s for s in test if s.label == "anomaly")
    normal = audio(spec, SEED, None, SMALL.clip_seconds)
    assert np.array_equal(render(spec, SEED, 0.0, SMALL.clip_seconds), normal)
    for kind in ANOMALY_TYPES[machine]:
        faulty = audio(spec, SEED, Fault(kind, 1.0, 1.0), SMALL.clip_seconds).astype(float)
        assert np.sqrt(np.mean((faulty - normal) ** 2)) > 0.01 * np.sqrt(np.mean(normal.astype(float) ** 2)), kind


# ---------------------------------------------------------------------------------------------
# Bad input and the command line
# ---------------------------------------------------------------------------------------------
def test_refuses_a_non_empty_folder_and_writes_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match=str(out)):
        generate(out, SMALL, machines=("fan",), progress=False)
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    with pytest.raises(ValueError, match="unknown"):
        generate(tmp_path / "new", SMALL, machines=("drill",), progress=False)
    with pytest.raises(ValueError, match="strength"):
        generate(tmp_path / "new", SMALL, strength=-1.0, progress=False)
    for workers in (0, -2, 1.5):
        with pytest.raises(ValueError, match=f"workers must be an integer >= 1, got {workers}"):
            generate(tmp_path / "new", SMALL, workers=workers, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    import asdlib.synth.writer as writer

    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("interrupted")
        return render(*args, **kwargs)

    monkeypatch.setattr(writer, "render", failing)
    with pytest.raises(RuntimeError):
        generate(tmp_path / "out", SMALL, machines=("fan",), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_the_scale_and_reports(tmp_path, capsys):
    out = tmp_path / "set"
    assert cli.main(["synth", str(out), "--scale", "smoke", "--machines", "valve", "--seed", "1"]) == 0
    size = get_scale("smoke").synth
    n = clip_count(size, ("valve",))
    assert sum(1 for _ in out.glob("*_data/valve/*/*.wav")) == n
    assert soundfile.info(str(next(out.glob("dev_data/valve/train/*.wav")))).frames == int(size.clip_seconds * SR)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and f"{n} clips" in lines[0]
    assert cli.main(["synth", str(out), "--scale", "smoke", "--machines", "valve"]) == 2
    assert str(out) in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# Difficulty: a simple baseline, domain shift, strength, learnable surrogate tasks
# ---------------------------------------------------------------------------------------------
DIFF = SynthSize(clip_seconds=2.0, train_source=36, train_target=4, test_per_domain=10, eval_test=4)
STRENGTHS = (0.0, 1.0, 4.0)
N_FFT, HOP, N_MELS = 1024, 512, 64


def _mel_filterbank() -> np.ndarray:
    """Triangular filters on the mel scale, shape (N_MELS, N_FFT // 2 + 1)."""
    mel = np.linspace(0, 2595 * np.log10(1 + (SR / 2) / 700), N_MELS + 2)
    edges = 700 * (10 ** (mel / 2595) - 1)
    f = np.fft.rfftfreq(N_FFT, 1 / SR)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    return np.maximum(0, np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid)))


FILTERBANK = _mel_filterbank()


def log_mel_stats(x: np.ndarray) -> np.ndarray:
    """Mean and standard deviation over time of a log-mel spectrogram, shape (2 * N_MELS,)."""
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(float) / 32768, N_FFT)[::HOP] * np.hanning(N_FFT)
    mel = np.log(np.abs(np.fft.rfft(frames, axis=1)) ** 2 @ FILTERBANK.T + 1e-10)
    return np.concatenate([mel.mean(axis=0), mel.std(axis=0)])


@pytest.fixture(scope="module")
def baseline():
    """Per dev section: clip features of train clips, normal test clips, and anomalous test clips at
    each strength (normal clips do not depend on the strength)."""
    out = {}
    for machine in MACHINES:
        for section in DEV_SECTIONS:
            train, test = plan_section(SEED, machine, section, DIFF)
            normal = [s for s in test if s.label == "normal"]
            anomalous = [s for s in test if s.label == "anomaly"]

            def features(specs, strength=1.0):
                return np.array([log_mel_stats(render(s, SEED, strength, DIFF.clip_seconds)) for s in specs])

            out[(machine, section)] = dict(
                train=features(train), train_specs=train, normal=features(normal), normal_specs=normal,
                anomalous={st: features(anomalous, st) for st in STRENGTHS}, anomalous_specs=anomalous)
    return out


def _aucs(baseline, strength: float) -> dict[str, tuple[float, float]]:
    """Per machine, mean over dev sections of (AUC source, AUC target) by the official rule
    (domain's normal clips against ALL anomalous clips), Mahalanobis scores to the training clips."""
    per_machine: dict[str, list] = {}
    for (machine, _), part in baseline.items():
        model = LedoitWolf().fit(part["train"])
        normal = model.mahalanobis(part["normal"])
        anomalous = model.mahalanobis(part["anomalous"][strength])
        domains = np.array([s.domain for s in part["normal_specs"]])
        pair = []
        for domain in ("source", "target"):
            scores = np.concatenate([normal[domains == domain], anomalous])
            labels = np.r_[np.zeros((domains == domain).sum()), np.ones(anomalous.size)]
            pair.append(roc_auc_score(labels, scores))
        per_machine.setdefault(machine, []).append(pair)
    return {m: tuple(np.mean(v, axis=0)) for m, v in per_machine.items()}


def test_baseline_auc_is_moderate_and_domain_shift_hurts(baseline):
    aucs = _aucs(baseline, 1.0)
    both = {m: (s + t) / 2 for m, (s, t) in aucs.items()}
    assert 0.58 <= np.mean(list(both.values())) <= 0.9, both
    assert min(both.values()) > 0.55, both
    assert np.mean([t for _, t in aucs.values()]) < np.mean([s for s, _ in aucs.values()]) - 0.1, aucs


def test_strength_zero_is_chance_and_large_strength_is_easy(baseline):
    zero = [(s + t) / 2 for s, t in _aucs(baseline, 0.0).values()]
    assert abs(np.mean(zero) - 0.5) < 0.06 and max(abs(v - 0.5) for v in zero) < 0.12, zero
    strong = [(s + t) / 2 for s, t in _aucs(baseline, 4.0).values()]
    assert np.mean(strong) > 0.9 and min(strong) > 0.8, strong


def _cv_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Five-fold balanced accuracy of a logistic regression (chance: 1 / number of classes)."""
    classifier = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    return cross_val_score(classifier, x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                           scoring="balanced_accuracy").mean()


@pytest.mark.parametrize("machine", MACHINES)
def test_sections_and_attributes_are_learnable(baseline, machine):
    """The surrogate tasks: sections (units of one product: learnable, not given away, see the ladder
    tests below), and each attribute key's values, are classifiable from simple features."""
    parts = [baseline[(machine, s)] for s in DEV_SECTIONS]
    x = np.concatenate([p["train"] for p in parts])
    y = np.concatenate([[s] * len(p["train"]) for s, p in zip(DEV_SECTIONS, parts)])
    assert _cv_accuracy(x, y) > 1 / 3 + 0.25
    for part in parts:
        x = np.concatenate([part["train"], part["normal"]])
        specs = part["train_specs"] + part["normal_specs"]
        for key in dict.fromkeys(k for s in specs for k in s.attributes):
            values = np.array([s.attributes.get(key, "-") for s in specs])
            kinds, counts = np.unique(values, return_counts=True)
            keep = np.isin(values, kinds[counts >= 5])
            classes = len(np.unique(values[keep]))
            if classes < 2:
                continue
            assert _cv_accuracy(x[keep], values[keep]) > 1 / classes + 0.25, (machine, key)


# ---- the calibration ladder (asdlib.synth.ladder) at the smoke scale ------------------------------
@pytest.fixture(scope="module")
def ladders():
    """The ladder of a smoke-scale calibration set (60 dev test clips per section), at strength 1 and 0."""
    smoke = get_scale("smoke")
    return {strength: ladder.ladder(ladder.calibration_set(smoke.synth, smoke.features, test_per_domain=15,
                                                           strength=strength, workers=2))
            for strength in (1.0, 0.0)}


def test_average_spectrum_does_not_name_the_section(ladders):
    """Sections share their type's physics, level, channel and noise: the average spectrum's nearest
    centroid is far from perfect (it was 0.93-1.00 on four machines when every section was drawn apart)."""
    probe = ladders[1.0]["section_probe"].drop("all")
    assert probe.mean() < 0.8 and probe.max() < 0.95, probe.to_dict()


def test_supervised_ceiling_leaves_room_above_the_floor(ladders):
    """The faults are in the features (a supervised classifier finds them) but not in the average
    spectrum (the no-learning floor stays near chance)."""
    table = ladders[1.0].drop("all")
    assert table["ceiling"].mean() > 0.75 and table["ceiling"].min() > 0.65, table["ceiling"].to_dict()
    assert (table["ceiling"] - table["floor"]).mean() > 0.2, table.to_dict()
    assert ladders[1.0].loc["all", "floor"] < 0.62


def test_supervised_ceiling_is_chance_without_faults(ladders):
    """At strength 0 anomalous clips are normal clips: the ceiling itself must fall to chance (the
    instrument can fail)."""
    ceiling = ladders[0.0]["ceiling"].drop("all")
    assert abs(ceiling.mean() - 0.5) < 0.08 and ceiling.max() < 0.65, ceiling.to_dict()


def test_sections_are_units_of_one_product():
    """Two sections' base parameters differ by the unit perturbation only; settings and counts are shared."""
    a, b = section_base(SEED, "gearbox", "00"), section_base(SEED, "gearbox", "04")
    assert a["teeth"] == b["teeth"] and a["volt"] == b["volt"] and a["poles"] == b["poles"]
    ratios = np.array([a[k] / b[k] for k in a if isinstance(a[k], float) and k not in SETTINGS])
    assert np.all(np.abs(np.log(ratios)) < 8 * UNIT_SD) and np.any(ratios != 1), ratios
    assert section_base(SEED, "gearbox", "00") == a   # seeded: the same unit every time


def test_the_ladders_intervals_are_over_the_test_clips_and_keep_the_points():
    smoke = get_scale("smoke")
    clips = ladder.calibration_set(smoke.synth, smoke.features, machines=("valve",), test_per_domain=15)
    points, spread = ladder.ladder(clips), ladder.ladder(clips, n_resamples=200)
    assert np.allclose(points.to_numpy(), spread[list(ladder.INSTRUMENTS)].to_numpy())
    halves = spread[[f"{name} ±" for name in ladder.INSTRUMENTS]]
    assert (halves.to_numpy() > 0.005).all() and (halves.to_numpy() < 0.2).all(), halves
