"""The ``asdlib`` command line as a user meets it: its help, its version, its start-up, what each
command says it did, and the runs it refuses."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import asdlib
from asdlib.cli import main as cli
from asdlib.data import index_dataset
from asdlib.names import parse_clip_name
from asdlib.train import refuse_single_class_tasks

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("synth", "index", "train", "score", "evaluate", "explain")


def run(argv, capsys) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``asdlib ARGV``, whether argparse or the command ended it."""
    try:
        code = cli([str(a) for a in argv])
    except SystemExit as done:
        code = done.code
    out = capsys.readouterr()
    return code, out.out, out.err


def help_text(capsys, *command: str) -> str:
    code, out, _ = run([*command, "--help"], capsys)
    assert code == 0
    return out


def entry(text: str, name: str) -> str:
    """The help of one argument (``--seed``, ``run_dir``), its wrapped lines joined."""
    found = re.search(rf"^  {re.escape(name)}\b[^\n]*?(?: {{2,}}|\n)(.*?)(?=^  \S|\Z)", text, re.M | re.S)
    assert found, f"no help entry for {name}"
    return " ".join(found[1].split())


# --- version and help --------------------------------------------------------------------------
def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out == f"asdlib {asdlib.__version__}\n"


def test_the_top_level_help_is_for_users(capsys):
    text = help_text(capsys)
    assert "anomalous sound detection" in text.lower() and "DCASE 2022 Task 2" in text
    assert "asdlib train --data" in text  # an example of the commands in order
    for developer_word in ("register", "subparsers", "``", "module"):
        assert developer_word not in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_a_plain_description(command, capsys):
    text = help_text(capsys, command)
    description = text.split("\n\n")[1]  # after the usage block
    assert not description.startswith(("positional arguments", "options")), f"{command} has no description"
    assert len(description.split()) >= 12 and "`" not in description


@pytest.mark.parametrize("command, name, default", [
    ("synth", "--scale", "quick"), ("synth", "--seed", "0"), ("train", "--scale", "quick"), ("train", "--seed", "0"),
    ("train", "--device", "cuda where there is one, else cpu"), ("score", "--device", "cuda where there is one, else cpu"),
    ("score", "--backend", "nn"), ("score", "--checkpoint", "last"), ("explain", "--checkpoint", "last"),
])
def test_options_say_their_default(command, name, default, capsys):
    assert f"(default: {default}" in entry(help_text(capsys, command), name)


@pytest.mark.parametrize("command", ["score", "explain"])
def test_run_dir_is_explained(command, capsys):
    assert "run folder" in entry(help_text(capsys, command), "run_dir")


def test_the_clip_example_is_a_name_of_the_data_set(capsys):
    examples = re.findall(r"section_\S+?\.wav", entry(help_text(capsys, "explain"), "--clip"))
    assert len(examples) == 2
    dev, anonymised = map(parse_clip_name, examples)
    assert (dev.split, dev.section, anonymised.section) == ("test", "00", "03") and anonymised.anonymised


def test_the_help_starts_without_the_heavy_modules():
    heavy = ("numpy", "pandas", "scipy", "sklearn", "torch")
    code = ("import contextlib, io, sys\n"
            "from asdlib.cli import main\n"
            f"for argv in (['--help'], ['--version'], *([c, '--help'] for c in {COMMANDS!r})):\n"
            "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "        main(argv)\n"
            f"print(' '.join(m for m in {heavy!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_an_unknown_scale_is_one_clean_line(tmp_path, capsys):
    code, _, err = run(["train", "--data", tmp_path, "--machine", "fan", "--system", "disent", "--scale", "smokey",
                        "--out", tmp_path / "run"], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and "'smokey'" in last and "'paper', 'quick', 'smoke'" in last and '"' not in last
    assert not (tmp_path / "run").exists()


# --- a study from the command line: synth, train, score, explain -------------------------------
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A disent run on smoke fan data, trained and scored by the commands, without the evaluator's files."""
    tmp = tmp_path_factory.mktemp("cli")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ASDLIB_CACHE", str(tmp / "cache"))
        assert cli(["synth", str(tmp / "data"), "--scale", "smoke", "--machines", "fan", "--workers", "1"]) == 0
        assert cli(["train", "--data", str(tmp / "data"), "--machine", "fan", "--system", "disent", "--scale", "smoke",
                    "--set", "train.epochs=1", "--set", "train.checkpoint_every=1", "--out", str(tmp / "run")]) == 0
        yield tmp


def test_score_says_where_it_wrote(study, capsys, monkeypatch):
    monkeypatch.setenv("ASDLIB_CACHE", str(study / "cache"))
    code, out, _ = run(["score", study / "run"], capsys)
    last = out.strip().splitlines()[-1]
    assert code == 0 and last.startswith("asdlib score: wrote ")
    folders = [Path(f) for f in last[len("asdlib score: wrote "):].split(", ")]
    assert sorted(folders) == sorted((study / "run" / "results" / "last").iterdir())  # every mode's, no other
    for folder in folders:
        summary = json.loads((folder / "summary.json").read_text())
        assert (summary["checkpoint"]["rule"], summary["mode"]) == ("last", folder.name)
        assert len(list(folder.glob("anomaly_score_fan_section_*_test.csv"))) == 6


def test_explain_says_what_is_known_of_an_eval_clip(study, capsys, monkeypatch):
    monkeypatch.setenv("ASDLIB_CACHE", str(study / "cache"))
    clip = sorted((study / "data" / "eval_data" / "fan" / "test").glob("section_03_*.wav"))[0].name
    assert run(["score", study / "run"], capsys)[0] == 0
    code, out, _ = run(["explain", study / "run", "--clip", clip], capsys)
    first = out.splitlines()[0]
    assert code == 0 and "nan" not in out
    assert first.startswith(f"{clip} (section 03; domain and label unknown") and "--truth" in first
    # scored with the evaluator's files, the same clip's domain and label are read from them
    assert run(["score", study / "run", "--truth", study / "data" / "eval_truth"], capsys)[0] == 0
    code, out, _ = run(["explain", study / "run", "--clip", clip], capsys)
    assert code == 0 and re.match(rf"{re.escape(clip)} \(section 03, (source|target), (normal|anomaly)\): ", out)


# --- a surrogate task with one class is refused before training ---------------------------------
def one_section_copy(data: Path, out: Path, keep: str = "section_00_") -> Path:
    """The fan dev clips whose names start with ``keep`` (the DCASE 2023-2025 layout: one section)."""
    for split in ("train", "test"):
        (out / "dev_data" / "fan" / split).mkdir(parents=True)
        for clip in (data / "dev_data" / "fan" / split).glob(f"{keep}*.wav"):
            shutil.copy(clip, out / "dev_data" / "fan" / split)
    return out


def test_a_one_section_run_is_refused_before_anything_is_written(study, tmp_path, capsys):
    root = one_section_copy(study / "data", tmp_path / "data")
    code, out, err = run(["train", "--data", root, "--machine", "fan", "--system", "disent", "--scale", "smoke",
                          "--year", "2023", "--out", tmp_path / "run"], capsys)  # one section: any year from 2022 on
    assert code == 2 and err == ("asdlib train: error: fan: the section task has one class (section 00): nothing to "
                                 "learn; train on several machines with --machine all\n")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("system, machine, keep, refused", [
    ("sec_softmax", "fan", "section_00_", "fan: the section task has one class (section 00)"),
    ("sec_arcface", "all", "section_00_", "all: the section task has one class (fan section 00)"),
    ("mn", "fan", "section_00_", "fan: the section task has one class"),
    ("ae", "fan", "section_00_", None),   # no surrogate task
    ("anp", "fan", "section_00_", None),
    ("disent", "fan", "section_0", None),  # three sections, each key of several values
    # two sections, but the one key of section 01 (f-n) has a single value among the clips kept
    ("mtl", "fan", "section_0", "fan: the attribute task f-n has one class (f-n=A)"),
    ("sec_softmax", "fan", "section_0", None),  # has no attribute task
])
def test_which_tasks_have_one_class(study, tmp_path, system, machine, keep, refused):
    root = one_section_copy(study / "data", tmp_path / "data", keep)
    if system in ("mtl", "sec_softmax") and keep == "section_0":
        for clip in (root / "dev_data" / "fan" / "train").glob("section_01_*.wav"):
            if not clip.name.endswith("_f-n_A.wav"):
                clip.unlink()
    index = index_dataset(root, year=2022)  # a dev set cut to section 00 fits every year: say which
    if refused is None:
        refuse_single_class_tasks(system, machine, index)
    else:
        with pytest.raises(ValueError, match=re.escape(refused)):
            refuse_single_class_tasks(system, machine, index)
