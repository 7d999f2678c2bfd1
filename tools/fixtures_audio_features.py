"""Fixture group audio_features (tests/fixtures/audio/features/): Granite Speech's log-mel features and audio token
counts, run by tools/make_fixtures.py --only audio_features.

transformers 5.23's GraniteSpeechFeatureExtractor computes them with torchaudio's MelSpectrogram (torchaudio
2.11.1, the newest on PyPI; it declares torch>=2.11 and runs on the pinned torch 2.15). For each signal (made here,
float32, 16 kHz) it stores the samples, transformers' float32 features, an independent float64 numpy computation of
the same formula (as hi + lo float32 pairs: the project's safetensors reader has no F64), and how far transformers'
float32 output is from that float64 one: the same-precision error that the C tests' tolerances are stated against.
"""

import json
import math
import os
import shutil

import numpy as np

SR = 16000
NOISE_SEED = 20261207

# (name, transformers __init__ arguments). "granite" is every published checkpoint's setting (section B.1; 3.3 and
# 4.x do not differ in feature settings); "custom" exercises what the C code must not hard-code: an n_fft that is
# not a power of two, a window shorter than it, another hop, mel count and Q-Former window.
CONFIGS = {
    "granite": dict(sampling_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=80,
                    projector_window_size=15, projector_downsample_rate=5),
    "custom": dict(sampling_rate=16000, n_fft=400, win_length=320, hop_length=200, n_mels=32,
                   projector_window_size=12, projector_downsample_rate=4),
}


def melspec_kwargs(cfg):
    """The nested settings as published preprocessor_config.json files (and a 5.x save) write them."""
    return {"hop_length": cfg["hop_length"], "n_fft": cfg["n_fft"], "n_mels": cfg["n_mels"],
            "sample_rate": cfg["sampling_rate"], "win_length": cfg["win_length"]}

def signals():
    """name -> (description, float32 samples)."""
    rng = np.random.default_rng(NOISE_SEED)
    out = {}
    t = np.arange(int(1.5 * SR)) / SR
    out["chirp"] = ("1.5 s linear chirp 100 Hz -> 7.9 kHz, amplitude 0.5",
                    0.5 * np.sin(2 * np.pi * (100 * t + (7900 - 100) / (2 * 1.5) * t * t)))
    t = np.arange(SR) / SR
    out["tone"] = ("1 s: 440 Hz at 0.3 + 3 kHz at 0.05 (a deep stop band: the log floor and f32 error)",
                   0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * 3000 * t))
    out["noise"] = (f"1 s white Gaussian noise, sigma 0.1, numpy default_rng({NOISE_SEED})",
                    0.1 * rng.standard_normal(SR))
    out["silence"] = ("0.5 s of zeros: every mel value is clamped to 1e-10, so every feature is -1.5",
                      np.zeros(SR // 2))
    t = np.arange(int(0.3 * SR)) / SR
    out["short"] = ("0.3 s: 1 kHz tone decaying with a 50 ms time constant",
                    0.8 * np.exp(-t / 0.05) * np.sin(2 * np.pi * 1000 * t))
    n = 12163  # 12163 // 160 + 1 = 77 frames (odd): the last one is dropped, but it takes part in the max
    t = np.arange(n) / SR
    x = 0.05 * np.sin(2 * np.pi * 300 * t)
    x[-40:] += 0.9 * np.sin(2 * np.pi * 5000 * t[-40:])
    out["odd"] = (f"{n} samples (odd length, 77 frames with granite's hop): a quiet 300 Hz tone (its stop band is "
                  "more than 8 decades down, so the floor matters) with a loud 5 kHz burst in the last 40 samples: "
                  "the utterance max, and so the floor, come from the dropped last frame", x)
    out["min"] = ("257 samples, noise: the shortest clip transformers accepts (torch's reflect pad needs "
                  "n_samples > n_fft / 2)", 0.2 * rng.standard_normal(257))
    return {k: (d, np.asarray(v, dtype=np.float32)) for k, (d, v) in out.items()}


def _hz_to_mel(f):
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_filters_f64(sr, n_fft, n_mels):
    """torchaudio.functional.melscale_fbanks(n_fft//2+1, 0, sr//2, n_mels, sr, norm=None, mel_scale='htk') in f64."""
    n_freqs = n_fft // 2 + 1
    all_freqs = np.linspace(0, sr // 2, n_freqs)
    m_pts = np.linspace(_hz_to_mel(0.0), _hz_to_mel(float(sr // 2)), n_mels + 2)
    f_pts = 700.0 * (10.0 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))  # (n_freqs, n_mels)


def log_mel_f64(x, sampling_rate, n_fft, win_length, hop_length, n_mels, **_):
    """The formula in float64: reflect pad n_fft/2, periodic Hann of win_length centred in n_fft, |rfft|^2, HTK mel
    filters without norm, log10(max(., 1e-10)), max(., utterance max - 8) / 4 + 1, odd last frame dropped AFTER the
    max, pairs of frames concatenated."""
    n_frames = 1 + len(x) // hop_length
    spec = np.fft.rfft(_frames(x, dict(n_fft=n_fft, win_length=win_length, hop_length=hop_length)), axis=1)
    power = spec.real ** 2 + spec.imag ** 2
    logmel = np.log10(np.maximum(power @ mel_filters_f64(sampling_rate, n_fft, n_mels), 1e-10))
    logmel = np.maximum(logmel, logmel.max() - 8.0) / 4 + 1
    if n_frames % 2:
        logmel = logmel[:-1]
    return logmel.reshape(-1, 2 * n_mels)


def token_lengths(fe):
    """Sample counts where the token count changes (n - 1 and n) up to 200000, plus round durations."""
    ns = set([0, 1, 159, 160, 161, 256, 257, 4800, 16000, 30 * SR, 60 * SR, 70 * SR, 600 * SR, 7200 * SR])
    prev = None
    counts = fe._get_num_audio_features(list(range(200001)))
    for n, c in enumerate(counts):
        if prev is not None and c != prev:
            ns.update([n - 1, n])
        prev = c
    return sorted(ns)


def generate():
    import torch
    import torchaudio
    from safetensors.numpy import save_file
    from transformers import GraniteSpeechFeatureExtractor, GraniteSpeechProcessor, PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models

    from common import FIXTURES_DIR, versions, warn_unpinned, write_json

    warn_unpinned({"torchaudio": "2.11.1"}, {"torchaudio": torchaudio.__version__}, "references will differ")
    torch.set_num_threads(1)
    out = os.path.join(FIXTURES_DIR, "audio", "features")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)

    # The configs as files. granite: the published checkpoints' preprocessor_config.json layout (the settings nested
    # in "melspec_kwargs", which transformers 5.x ignores on load: its __init__ defaults equal them). granite-5x: the
    # same extractor as transformers 5.23's processor.save_pretrained writes it (processor_config.json with a nested
    # "audio_processor"). custom: top-level fields, which transformers does read (melspec_kwargs alone would be
    # silently replaced by the defaults), plus the melspec_kwargs a save writes.
    g = CONFIGS["granite"]
    os.makedirs(os.path.join(out, "granite"))
    write_json(os.path.join(out, "granite", "preprocessor_config.json"), {
        "feature_extractor_type": "GraniteSpeechFeatureExtractor",
        "melspec_kwargs": melspec_kwargs(g),
        "processor_class": "GraniteSpeechProcessor",
        "projector_downsample_rate": g["projector_downsample_rate"],
        "projector_window_size": g["projector_window_size"],
        "sampling_rate": g["sampling_rate"],
    })
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<|audio|>": 0, "[UNK]": 1},
                                                                              unk_token="[UNK]")))
    tmp = os.path.join(out, "granite-5x.tmp")
    GraniteSpeechProcessor(GraniteSpeechFeatureExtractor(**g), tok).save_pretrained(tmp)
    os.makedirs(os.path.join(out, "granite-5x"))
    shutil.move(os.path.join(tmp, "processor_config.json"), os.path.join(out, "granite-5x", "processor_config.json"))
    shutil.rmtree(tmp)
    c = CONFIGS["custom"]
    os.makedirs(os.path.join(out, "custom"))
    write_json(os.path.join(out, "custom", "preprocessor_config.json"), {
        "feature_extractor_type": "GraniteSpeechFeatureExtractor",
        **{k: c[k] for k in ("sampling_rate", "n_fft", "win_length", "hop_length", "n_mels")},
        "melspec_kwargs": melspec_kwargs(c),
        "projector_downsample_rate": c["projector_downsample_rate"],
        "projector_window_size": c["projector_window_size"],
    })

    # Each file loads in transformers to the settings it is meant to have.
    extractors = {}
    for case, cfg_name in (("granite", "granite"), ("granite-5x", "granite"), ("custom", "custom")):
        fe = GraniteSpeechFeatureExtractor.from_pretrained(os.path.join(out, case))
        want = {k: v for k, v in CONFIGS[cfg_name].items() if not k.startswith("projector") and k != "sampling_rate"}
        want["sample_rate"] = CONFIGS[cfg_name]["sampling_rate"]
        assert fe.melspec_kwargs == want, (case, fe.melspec_kwargs)
        assert fe.projector_window_size == CONFIGS[cfg_name]["projector_window_size"]
        assert fe.projector_downsample_rate == CONFIGS[cfg_name]["projector_downsample_rate"]
        extractors[cfg_name] = fe

    tensors, sig_meta, errors = {}, {}, {}
    for name, (desc, x) in signals().items():
        tensors[f"samples.{name}"] = x
        sig_meta[name] = {"description": desc, "n_samples": len(x), "tokens": {}, "n_stacked_frames": {}}
        for cfg_name, fe in extractors.items():
            res = fe(x)
            got = res["input_features"][0].numpy()
            ref = log_mel_f64(x, **CONFIGS[cfg_name])
            assert got.shape == ref.shape, (name, cfg_name, got.shape, ref.shape)
            err = float(np.abs(got.astype(np.float64) - ref).max())
            # The formula is the same one: far tighter than any real difference (a wrong window, pad or scale is
            # > 1e-2).
            assert err < 1e-4, (name, cfg_name, err)
            hi = ref.astype(np.float32)
            tensors[f"{cfg_name}.{name}.transformers"] = got
            tensors[f"{cfg_name}.{name}.f64_hi"] = hi
            tensors[f"{cfg_name}.{name}.f64_lo"] = (ref - hi.astype(np.float64)).astype(np.float32)
            sig_meta[name]["tokens"][cfg_name] = int(res["audio_embed_sizes"][0])
            sig_meta[name]["n_stacked_frames"][cfg_name] = int(got.shape[0])
            errors.setdefault(cfg_name, {})[name] = err
        if name == "odd":  # the max must come from the dropped frame, or the case tests nothing
            g = CONFIGS["granite"]
            full = np.log10(np.maximum(
                (np.abs(np.fft.rfft(_frames(x, g), axis=1)) ** 2) @ mel_filters_f64(SR, g["n_fft"], g["n_mels"]),
                1e-10))
            assert full[-1].max() > full[:-1].max() + 0.1, "the odd clip's max is not in its last frame"
            kept = full[:-1]
            assert ((kept < full.max() - 8) != (kept < kept.max() - 8)).any(), "the dropped frame's max moves no value"

    tables = {cfg_name: [[n, t] for n, t in zip(token_lengths(fe), fe._get_num_audio_features(token_lengths(fe)))]
              for cfg_name, fe in extractors.items()}
    save_file(tensors, os.path.join(out, "features.safetensors"), metadata={"format": "np"})
    write_json(os.path.join(out, "reference.json"), {
        "generator": "tools/fixtures_audio_features.py",
        "versions": {**versions(), "torchaudio": torchaudio.__version__, "numpy": np.__version__},
        "configs": {k: CONFIGS[k] for k in CONFIGS},
        "config_files": {"granite": "granite/preprocessor_config.json",
                         "granite-5x": "granite-5x/processor_config.json",
                         "custom": "custom/preprocessor_config.json"},
        "tensors": {"samples.<signal>": "(n_samples,) float32 input at 16 kHz",
                    "<config>.<signal>.transformers": "(n_stacked_frames, 2 n_mels) GraniteSpeechFeatureExtractor "
                                                      "input_features[0], float32",
                    "<config>.<signal>.f64_hi / f64_lo": "the float64 formula (log_mel_f64) = hi + lo"},
        "signals": sig_meta,
        "transformers_f32_vs_f64_max_abs": errors,
        "token_counts": tables,
    })
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    print(f"audio_features: {len(sig_meta)} signals x {len(extractors)} configs, {size} bytes, "
          f"max transformers f32 error {max(max(e.values()) for e in errors.values()):.3g}")


def _frames(x, cfg):
    """The windowed frames (n_frames, n_fft) of log_mel_f64, for the generator's own checks."""
    n_fft, win, hop = cfg["n_fft"], cfg["win_length"], cfg["hop_length"]
    xp = np.pad(x.astype(np.float64), n_fft // 2, mode="reflect")
    w = np.zeros(n_fft)
    left = (n_fft - win) // 2
    w[left:left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    idx = np.arange(n_fft)[None, :] + hop * np.arange(1 + len(x) // hop)[:, None]
    return xp[idx] * w


if __name__ == "__main__":
    import sys
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    generate()
