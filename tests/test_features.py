"""STFT features: the paper's frame count, agreement with a direct numpy STFT, and the disk cache."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from asdlib.data import AudioError, index_dataset
from asdlib.features import load_features, log_spectrogram, n_frames
from asdlib.scales import FeatureSpec, get_scale

from conftest import write_wav


def test_paper_setting_gives_313_frames_of_1025_bins_per_10s_clip():
    spec = get_scale("paper").features
    assert spec.n_bins == 1025 and n_frames(160_000, spec) == 313  # 282 chunks of 32 frames
    out = log_spectrogram(torch.zeros(2, 160_000), spec)
    assert out.shape == (2, 313, 1025)


def test_log_spectrogram_matches_a_direct_dft():
    spec = FeatureSpec(n_fft=64, hop=16)
    rng = np.random.default_rng(0)
    wave = rng.standard_normal(400).astype(np.float32)
    ours = log_spectrogram(torch.from_numpy(wave), spec).numpy()
    padded = np.pad(wave, spec.n_fft // 2, mode="reflect")  # center=True
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(spec.n_fft) / spec.n_fft)  # periodic Hann
    frames = np.stack([padded[t * spec.hop: t * spec.hop + spec.n_fft] * window for t in range(ours.shape[0])])
    direct = np.log(np.maximum(np.abs(np.fft.rfft(frames, axis=1)), 1e-8))
    np.testing.assert_allclose(ours, direct, atol=2e-4)


@pytest.fixture
def clips(tmp_path):
    root = tmp_path / "root"
    for i in range(5):
        write_wav(root / "dev_data" / "fan" / "train" / f"section_00_source_train_normal_{i:04d}_m-n_W.wav",
                  seconds=0.5, seed=i)
    write_wav(root / "dev_data" / "fan" / "train" / "section_00_source_train_normal_0005_m-n_W.wav",
              seconds=0.75, seed=9)  # a different length goes through the unbatched path
    (root / "dev_data" / "fan" / "test").mkdir()
    return index_dataset(root, year=2022)  # section 00 of one dev machine alone fits every year


def test_cache_holds_float16_spectrograms_in_clip_order(clips, tmp_path):
    spec = FeatureSpec(n_fft=128, hop=64)
    store = load_features(clips, spec, cache_dir=tmp_path / "cache", progress=False)
    assert len(store) == 6 and store.frames.dtype == np.float16 and isinstance(store.frames, np.memmap)
    from asdlib.data import load_clip
    for i, path in enumerate(clips.path):
        expect = log_spectrogram(torch.from_numpy(load_clip(path)), spec).numpy()
        assert store[i].shape == expect.shape
        np.testing.assert_allclose(store[i].astype(np.float32), expect, atol=0.02, rtol=2e-3)
    assert store[5].shape[0] == n_frames(12_000, spec)


def test_cache_is_reused_and_keyed_by_settings_and_files(clips, tmp_path):
    cache = tmp_path / "cache"
    spec = FeatureSpec(n_fft=128, hop=64)
    load_features(clips, spec, cache_dir=cache, progress=False)
    folders = list((cache / spec.key()).iterdir())
    stamp = (folders[0] / "frames.npy").stat().st_mtime_ns
    load_features(clips, spec, cache_dir=cache, progress=False)
    assert (folders[0] / "frames.npy").stat().st_mtime_ns == stamp  # not recomputed
    load_features(clips, FeatureSpec(n_fft=64, hop=32), cache_dir=cache, progress=False)
    assert len(list(cache.iterdir())) == 2  # another setting, another cache
    write_wav(Path(clips.path[0]), seconds=0.5, seed=42)  # the data changed: never read stale features
    os.utime(clips.path[0], ns=(stamp + 10**9, stamp + 10**9))
    load_features(clips, spec, cache_dir=cache, progress=False)
    assert len(list((cache / spec.key()).iterdir())) == 2


def test_bad_clip_leaves_no_cache_behind(clips, tmp_path):
    stereo = write_wav(tmp_path / "root" / "dev_data" / "fan" / "train" /
                       "section_00_source_train_normal_0099_m-n_W.wav", seconds=0.5, channels=2)
    index = index_dataset(tmp_path / "root", year=2022)
    with pytest.raises(AudioError, match=str(stereo)):
        load_features(index, FeatureSpec(n_fft=128, hop=64), cache_dir=tmp_path / "cache", progress=False)
    assert list((tmp_path / "cache" / "stft_nfft128_hop64").iterdir()) == []


def test_clip_shorter_than_one_chunk_is_refused(clips, tmp_path):
    short = write_wav(tmp_path / "root" / "dev_data" / "fan" / "train" /
                      "section_00_source_train_normal_0098_m-n_W.wav", seconds=0.05)
    with pytest.raises(AudioError, match=f"{short}.*shorter than"):
        load_features(index_dataset(tmp_path / "root", year=2022), FeatureSpec(n_fft=128, hop=64),
                      cache_dir=tmp_path / "cache", progress=False)


def test_log_mel_has_the_bands_and_tracks_a_tone():
    spec = FeatureSpec(n_fft=1024, hop=512, n_mels=128)
    assert spec.n_bins == 128 and spec.key() == "stft_nfft1024_hop512_slaneymel128"
    t = np.arange(16_000) / 16_000
    low = log_spectrogram(torch.from_numpy(np.sin(2 * np.pi * 300 * t).astype(np.float32)), spec)
    high = log_spectrogram(torch.from_numpy(np.sin(2 * np.pi * 5000 * t).astype(np.float32)), spec)
    assert low.shape == (32, 128)
    assert int(low[10].argmax()) < 20 < 70 < int(high[10].argmax())  # mel bands rise with frequency


def test_log_mel_is_librosa_melspectrogram_in_db(tmp_path):
    """The DCASE 2022 baselines' input: librosa's mel power spectrogram (Slaney filters), in dB."""
    import librosa
    import soundfile

    path = write_wav(tmp_path / "clip.wav", seconds=2.0, seed=3)
    wave, rate = soundfile.read(path, dtype="float32")
    spec = FeatureSpec(n_fft=1024, hop=512, n_mels=128)
    ours = log_spectrogram(torch.from_numpy(wave), spec).numpy()
    mel = librosa.feature.melspectrogram(y=wave, sr=rate, n_fft=1024, hop_length=512, n_mels=128, power=2.0,
                                         pad_mode="reflect")
    theirs = 10.0 * np.log10(mel + 1e-8).T
    assert ours.shape == theirs.shape == (63, 128)
    np.testing.assert_allclose(ours, theirs, atol=1e-3)
