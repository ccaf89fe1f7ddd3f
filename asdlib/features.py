"""STFT log-magnitude features (paper Sec. 3.1), computed once per clip and cached on disk.

A spectrogram is stored as (n_frames, n_bins) so that a 32-frame chunk is one contiguous slice.
Paper setting: window = FFT length 2048 (128 ms), hop 512 (32 ms), 1025 bins, Hann window,
``center=True`` (313 frames, hence 282 chunks of 32 frames, per 10 s clip).

The cache holds one float16 ``.npy`` per machine and clip list, memory-mapped when read, in
``<cache_dir>/<FeatureSpec.key()>/<machine>-<digest>/``. The digest covers every clip's path, size,
modification time and inode change time (``ctime``): a file rewritten in place changes its ctime
even when its size and modification time are kept (``touch -d``, ``rsync -t``), and no user command
can set a ctime back, so a changed data set never reads stale features. (Moving or copying a data
set changes paths and ctimes: its features are computed once more.) A cache is written into a
temporary folder named after the writing process and renamed when complete: an interrupted build
leaves nothing half-written, and its temporary folder is removed by the next build once that process
is gone. It is written through a plain file, after a check of the free space, so a full disk is an
error naming the folder. An entry that does not read back as written (a truncated ``frames.npy``, an
edited ``clips.json``) is computed again, with a note.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from asdlib.atomic import alive, check_space, naming
from asdlib.data import AudioError, load_clip, report_problems
from asdlib.scales import FeatureSpec

LOG_FLOOR = 1e-8


def default_cache_dir() -> Path:
    """``$ASDLIB_CACHE`` if set, else ``~/.cache/asdlib``."""
    return Path(os.environ.get("ASDLIB_CACHE", Path.home() / ".cache" / "asdlib"))


def n_frames(n_samples: int, spec: FeatureSpec) -> int:
    """Frames of a clip of ``n_samples`` samples (``center=True``): 1 + n_samples // hop."""
    return 1 + n_samples // spec.hop


def min_samples(spec: FeatureSpec, chunk_frames: int = 32) -> int:
    """Fewest samples that give one full chunk of ``chunk_frames`` frames, and at least the half window
    plus one that the STFT's reflect padding (``center=True``) needs."""
    return max((chunk_frames - 1) * spec.hop, spec.n_fft // 2 + 1)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int = 16_000) -> np.ndarray:
    """The DCASE 2022 baselines' mel filterbank, shape (n_mels, n_fft // 2 + 1): ``librosa.filters.mel``
    with its defaults (Slaney mel scale, area-normalised triangles, 0 Hz to Nyquist)."""
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


def log_spectrogram(waves, spec: FeatureSpec):
    """Log STFT magnitude ``log(max(|X|, 1e-8))``, or log-mel energy in dB when ``spec.n_mels``.

    The log-mel form follows the DCASE 2022 baselines: ``10 log10(M |X|^2 + eps)``, M the mel
    filterbank of :func:`mel_filterbank`, i.e. ``librosa.feature.melspectrogram`` (power 2) in dB
    with the baselines' librosa (before 0.10) padding, reflect (``center=True``); eps 1e-8 here,
    the baselines' ``sys.float_info.epsilon`` there (a difference only for digital silence).

    Args:
        waves: float tensor (n_samples,) or (batch, n_samples).
    Returns:
        float32 tensor (n_frames, n_bins) or (batch, n_frames, n_bins), n_bins = ``spec.n_bins``.
    """
    import torch

    waves = torch.as_tensor(waves, dtype=torch.float32)
    window = torch.hann_window(spec.n_fft, device=waves.device)
    stft = torch.stft(waves, n_fft=spec.n_fft, hop_length=spec.hop, win_length=spec.n_fft,
                      window=window, center=True, return_complex=True)
    magnitude = stft.abs().transpose(-1, -2)
    if not spec.n_mels:
        return magnitude.clamp_min(LOG_FLOOR).log()
    filters = torch.from_numpy(mel_filterbank(spec.n_mels, spec.n_fft)).to(waves.device)
    return 10.0 * torch.log10(magnitude.square() @ filters.T + LOG_FLOOR)


@dataclass
class FeatureStore:
    """Spectrograms of a list of clips, in the order of that list.

    ``frames`` is a read-only float16 memory map (total_frames, n_bins); clip ``i`` is
    ``frames[offsets[i] : offsets[i] + lengths[i]]``.
    """

    frames: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    paths: list[str]
    folders: tuple[str, ...] = ()  # the cache entries it was read from

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.offsets[i])
        return self.frames[start:start + int(self.lengths[i])]

    @property
    def n_bins(self) -> int:
        return self.frames.shape[1]


class ConcatFrames:
    """The frame arrays of several stores read as one (n_total, n_bins) array: row ``r`` of the whole
    is row ``r - start[k]`` of array ``k``. Supports integer-array and slice indexing (a slice must
    lie within one array, as a clip's frames do)."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = arrays
        self.starts = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype(np.int64)
        self.shape = (int(self.starts[-1]), arrays[0].shape[1])
        self.dtype = arrays[0].dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows):
        if isinstance(rows, slice):
            k = int(np.searchsorted(self.starts, rows.start, side="right") - 1)
            return self.arrays[k][rows.start - self.starts[k]:rows.stop - self.starts[k]]
        rows = np.asarray(rows)
        which = np.searchsorted(self.starts, rows, side="right") - 1
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        for k in np.unique(which):
            pick = which == k
            out[pick] = self.arrays[k][rows[pick] - self.starts[k]]
        return out


def concat_stores(stores: list[FeatureStore]) -> FeatureStore:
    """Several machines' feature stores as one, clips in the given order (for training on all machines)."""
    frames = ConcatFrames([s.frames for s in stores])
    offsets = np.concatenate([s.offsets + start for s, start in zip(stores, frames.starts[:-1])])
    return FeatureStore(frames=frames, offsets=offsets, lengths=np.concatenate([s.lengths for s in stores]),
                        paths=[p for s in stores for p in s.paths], folders=sum((s.folders for s in stores), ()))


def _digest(paths: list[str]) -> str:
    h = hashlib.sha1()
    for path in paths:
        st = os.stat(path)
        h.update(f"{os.path.abspath(path)}|{st.st_size}|{st.st_mtime_ns}|{st.st_ctime_ns}\n".encode())
    return h.hexdigest()[:16]


def _remove_orphans(folder: Path) -> None:
    """Remove the temporary build folders in ``folder`` whose writing process no longer exists."""
    if not folder.is_dir():
        return
    for tmp in folder.glob("*.tmp-*-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def load_features(clips: pd.DataFrame, spec: FeatureSpec, cache_dir: str | Path | None = None,
                  chunk_frames: int = 32, progress: bool = True, batch_size: int = 64) -> FeatureStore:
    """Spectrograms of ``clips`` (rows of :func:`asdlib.data.index_dataset`, one machine), cached.

    Computes what is missing (every clip is decoded and checked once: 16 kHz, mono, at least one
    chunk long, complete, finite; all bad clips are reported together), then returns a
    memory-mapped :class:`FeatureStore` in the order of ``clips``.
    """
    machines = clips["machine"].unique()
    if len(machines) != 1:
        raise ValueError(f"load_features takes the clips of one machine, got {list(machines)}")
    paths = list(clips["path"])
    folder = Path(cache_dir or default_cache_dir()) / spec.key() / f"{machines[0]}-{_digest(paths)}"
    _remove_orphans(folder.parent)
    if (folder / "clips.json").is_file():
        try:
            return _read(folder, paths, spec)
        except (ValueError, KeyError, TypeError, EOFError, FileNotFoundError) as err:
            print(f"asdlib: note: {folder}: a damaged feature cache entry ({type(err).__name__}: {err}); "
                  "computing it again", file=sys.stderr)
            shutil.rmtree(folder, ignore_errors=True)
    _build(folder, paths, spec, chunk_frames, progress, batch_size)
    return _read(folder, paths, spec)


def _read(folder: Path, paths: list[str], spec: FeatureSpec) -> FeatureStore:
    """The cache entry in ``folder``, checked to hold the features of ``paths`` at ``spec`` (a damaged
    entry, e.g. a truncated ``frames.npy`` or an edited ``clips.json``, raises ValueError)."""
    meta = json.loads((folder / "clips.json").read_text())
    frames = np.load(folder / "frames.npy", mmap_mode="r")
    offsets, lengths = np.asarray(meta["offsets"], dtype=np.int64), np.asarray(meta["lengths"], dtype=np.int64)
    if (meta["paths"] != paths or frames.dtype != np.float16 or frames.shape != (int(lengths.sum()), spec.n_bins)
            or not np.array_equal(offsets, np.cumsum(lengths) - lengths)):
        raise ValueError("clips.json and frames.npy do not describe these clips' features")
    return FeatureStore(frames=frames, offsets=offsets, lengths=lengths, paths=paths, folders=(str(folder),))


def _build(folder: Path, paths: list[str], spec: FeatureSpec, chunk_frames: int, progress: bool,
           batch_size: int) -> None:
    import soundfile
    import torch
    from tqdm.auto import tqdm

    need = min_samples(spec, chunk_frames)
    lengths = []
    for path in paths:  # check every clip before writing anything
        try:
            frames = soundfile.info(path).frames
        except Exception:
            frames = 0  # load_clip below reports it properly
        lengths.append(n_frames(frames, spec))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    shape = (int(sum(lengths)), spec.n_bins)
    folder.parent.mkdir(parents=True, exist_ok=True)
    check_space(folder.parent, shape[0] * shape[1] * np.dtype(np.float16).itemsize,
                "the feature cache", "free some, or set ASDLIB_CACHE to another folder")
    tmp = Path(tempfile.mkdtemp(prefix=f"{folder.name}.tmp-{os.getpid()}-", dir=folder.parent))
    try:
        # written in clip order through a plain file, not a memory map: a full disk is then an OSError
        # (ENOSPC), not a SIGBUS that kills the process without a word
        problems = []
        with (open(tmp / "frames.npy", "wb") as handle,
              tqdm(total=len(paths), desc=f"features {folder.name.split('-')[0]}", unit="clip",
                   disable=not progress) as bar):  # closed on an error too, which then has a line of its own
            np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)),
                                                          "fortran_order": False, "shape": shape})
            for start in range(0, len(paths), batch_size):
                batch = {}
                for i in range(start, min(start + batch_size, len(paths))):
                    try:
                        batch[i] = load_clip(paths[i], min_samples=need)
                    except AudioError as err:  # keep going: report every bad clip at once (nothing is kept)
                        problems.append(str(err))
                waves = list(batch.values())
                if len({len(w) for w in waves}) == 1:  # one batched STFT for equal-length clips (the usual case)
                    specs = list(log_spectrogram(torch.from_numpy(np.stack(waves)), spec))
                else:
                    specs = [log_spectrogram(torch.from_numpy(w), spec) for w in waves]
                for i, s in zip(batch, specs):
                    if s.shape[0] != lengths[i]:
                        raise RuntimeError(f"{paths[i]}: changed while features were computed")
                    handle.write(s.numpy().astype(np.float16).tobytes())
                bar.update(min(batch_size, len(paths) - start))
        if problems:
            raise AudioError(report_problems(problems, "clips cannot be used"))
        meta = {"spec": spec.key(), "paths": paths, "offsets": offsets.tolist(), "lengths": lengths}
        (tmp / "clips.json").write_text(json.dumps(meta))
        if folder.exists():  # a concurrent build finished first: keep theirs
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise naming(err, folder.parent) from None
        raise
