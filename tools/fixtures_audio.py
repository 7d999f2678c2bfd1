"""Audio input fixtures: short clips in every container and encoding audio/ decodes, with the 16 kHz mono float32
samples the Python pipeline gives for each, which audio/audio_reader.c must match within 1e-5:

    x, rate = soundfile.read(path, dtype="float32", always_2d=True)
    ref = soxr.resample(x.mean(axis=1), rate, 16000)     # python-soxr, quality "HQ" (its default)

tests/fixtures/audio/
  <clip>.<ext>         the encoded clips (0.5-1 s: speech from espeak-ng in two voices, a tone, silence, noise)
  reference.safetensors  F32 ref.<file name> (n,): the reference samples of each clip
  cases.json           versions, and per file: source, rate, channels, format, subtype, frames

Speech is espeak-ng's (22050 Hz mono); rates other than that are made with sox. Encodings are written by soundfile
(libsndfile bundled with the wheel). MP3 is written only when that libsndfile can (soundfile.available_formats()).

Run: /work/venv/bin/python tools/fixtures_audio.py   (needs the espeak-ng and sox commands; CI never runs this)
"""

import os
import platform
import subprocess
import sys
import tempfile

import numpy as np
import soundfile as sf
import soxr
from safetensors.numpy import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FIXTURES_DIR, rel, warn_unpinned, write_json  # noqa: E402
from fixtures_common import total_size  # noqa: E402

OUT_DIR = os.path.join(FIXTURES_DIR, "audio")
PINNED = {"soundfile": "0.14.0", "soxr": "1.1.0", "numpy": "2.4.6"}

SPEECH = {
    "speech_a": ("en-us", 175, "Hello there, one two."),
    "speech_b": ("en+f3", 190, "Good morning, seven."),
}

# (file, source, rate, channels, soundfile format, subtype)
CLIPS = [
    ("speech_a_16k_pcm16.wav", "speech_a", 16000, 1, "WAV", "PCM_16"),
    ("speech_a_22k_u8.wav", "speech_a", 22050, 1, "WAV", "PCM_U8"),
    ("speech_b_22k_pcm24.wav", "speech_b", 22050, 1, "WAV", "PCM_24"),
    ("speech_b_24k_pcm32.wav", "speech_b", 24000, 1, "WAV", "PCM_32"),
    ("tone_44k_float.wav", "tone", 44100, 1, "WAV", "FLOAT"),
    ("speech_a_8k_ulaw.wav", "speech_a", 8000, 1, "WAV", "ULAW"),
    ("speech_b_8k_alaw.wav", "speech_b", 8000, 1, "WAV", "ALAW"),
    ("speech_a_tone_48k_stereo.wav", "speech_a+tone", 48000, 2, "WAV", "PCM_16"),
    ("silence_16k.wav", "silence", 16000, 1, "WAV", "PCM_16"),
    ("noise_32k.flac", "noise", 32000, 1, "FLAC", "PCM_16"),
    ("speech_b_22k.flac", "speech_b", 22050, 1, "FLAC", "PCM_16"),
    ("speech_a_44k_vorbis.ogg", "speech_a", 44100, 1, "OGG", "VORBIS"),
    ("speech_b_48k_opus.ogg", "speech_b", 48000, 1, "OGG", "OPUS"),
    ("speech_a_44k.mp3", "speech_a", 44100, 1, "MP3", "MPEG_LAYER_III"),
]


def versions():
    return {"python": platform.python_version(), "numpy": np.__version__, "soundfile": sf.__version__,
            "libsndfile": sf.__libsndfile_version__, "soxr": soxr.__version__,
            "espeak-ng": subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip(),
            "sox": subprocess.run(["sox", "--version"], capture_output=True, text=True).stdout.strip()}


def speech(tmp, key, rate):
    """espeak-ng's clip, resampled by sox to rate, trimmed to 1 s, as float32 (n,)."""
    voice, wpm, text = SPEECH[key]
    raw, out = os.path.join(tmp, key + ".wav"), os.path.join(tmp, f"{key}_{rate}.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", raw, text], check=True)
    subprocess.run(["sox", raw, "-r", str(rate), "-b", "32", "-e", "floating-point", out, "trim", "0", "1.0"],
                   check=True)
    x, got = sf.read(out, dtype="float32")
    assert got == rate
    return x * np.float32(0.9)


def source(tmp, name, rate):
    """The clip's samples (frames, channels) at rate."""
    g = np.random.default_rng(10)
    if name in SPEECH:
        return speech(tmp, name, rate)[:, None]
    t = np.arange(int(rate * 0.5)) / rate
    if name == "tone":
        return (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)[:, None]
    if name == "silence":
        return np.zeros((int(rate * 0.5), 1), np.float32)
    if name == "noise":
        return g.uniform(-0.5, 0.5, (int(rate * 0.5), 1)).astype(np.float32)
    if name == "speech_a+tone":
        s = speech(tmp, "speech_a", rate)[: int(rate * 0.6)]
        tone = 0.3 * np.sin(2 * np.pi * 300.0 * np.arange(len(s)) / rate)
        return np.stack([s, tone.astype(np.float32)], axis=1)
    raise ValueError(name)


def reference(path):
    x, rate = sf.read(path, dtype="float32", always_2d=True)
    return soxr.resample(x.mean(axis=1), rate, 16000), x.shape, rate


def main():
    v = versions()
    warn_unpinned(PINNED, v, "references will differ")
    # Only the files directly in OUT_DIR are this script's: subdirectories (features/, from
    # tools/fixtures_audio_features.py) are left alone.
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if os.path.isfile(os.path.join(OUT_DIR, f)):
            os.remove(os.path.join(OUT_DIR, f))
    can = sf.available_formats()
    tensors, cases, skipped = {}, [], []
    with tempfile.TemporaryDirectory() as tmp:
        for fname, src, rate, ch, fmt, subtype in CLIPS:
            if fmt not in can or subtype not in sf.available_subtypes(fmt):
                skipped.append(fname)
                continue
            x = source(tmp, src, rate)
            assert x.shape[1] == ch
            path = os.path.join(OUT_DIR, fname)
            sf.write(path, x, rate, format=fmt, subtype=subtype)
            ref, shape, got_rate = reference(path)
            tensors["ref." + fname] = np.ascontiguousarray(ref, np.float32)
            cases.append({"file": fname, "source": src, "rate": got_rate, "channels": shape[1], "format": fmt,
                          "subtype": subtype, "frames": shape[0], "n_ref": len(ref)})
    save_file(tensors, os.path.join(OUT_DIR, "reference.safetensors"))
    write_json(os.path.join(OUT_DIR, "cases.json"), {"versions": v, "skipped": skipped, "cases": cases})
    files = sorted(f for f in os.listdir(OUT_DIR) if os.path.isfile(os.path.join(OUT_DIR, f)))
    for f in files:
        os.chmod(os.path.join(OUT_DIR, f), 0o644)
    print(f"{rel(OUT_DIR)}: {len(cases)} clips ({', '.join(skipped) or 'none'} skipped), "
          f"{total_size(OUT_DIR, files)} bytes")


if __name__ == "__main__":
    main()
