#!/usr/bin/env python3
"""Regenerates everything under tests/fixtures/ from the pinned versions in tools/requirements.txt.

    /work/venv/bin/python tools/make_fixtures.py [--only tokenizer|llama|images|resize|smolvlm|siglip-padded|jinja|chat_templates|chat_session|audio_features|audio|granite|granite_speech|gguf_llama|bf16|quant|gguf_format]

Deterministic: fixed training data, fixed seeds, CPU only, single-threaded torch.
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import check_versions  # noqa: E402


def main():
    # PEFT keeps target_modules in a set, which adapter_config.json and reference.json list in the set's order:
    # string hashing must not change from run to run (the committed files were written with PYTHONHASHSEED=1)
    if os.environ.get("PYTHONHASHSEED") != "1":
        os.environ["PYTHONHASHSEED"] = "1"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["tokenizer", "llama", "images", "resize", "smolvlm", "siglip-padded", "jinja", "chat_templates", "chat_session", "audio_features", "audio", "granite", "granite_speech", "gguf_llama", "bf16", "quant", "gguf_format"], help="regenerate only this group")
    args = ap.parse_args()
    check_versions()
    if args.only in (None, "tokenizer"):
        import fixtures_tokenizer
        fixtures_tokenizer.generate()
    if args.only in (None, "llama"):
        import fixtures_llama
        fixtures_llama.generate()
    if args.only in (None, "images"):
        import fixtures_images
        fixtures_images.main()
    if args.only in (None, "resize"):
        import fixtures_resize
        fixtures_resize.main()
    if args.only in (None, "smolvlm"):
        import fixtures_smolvlm
        fixtures_smolvlm.generate()
    if args.only in (None, "siglip-padded"):
        import fixtures_siglip_padded
        fixtures_siglip_padded.generate()
    if args.only in (None, "jinja"):
        import fixtures_jinja
        fixtures_jinja.main()
    if args.only in (None, "chat_templates"):
        import fixtures_chat_templates
        fixtures_chat_templates.generate()
    if args.only in (None, "chat_session"):  # after llama and smolvlm: it runs their checkpoints
        import fixtures_chat_session
        fixtures_chat_session.generate()
    if args.only in (None, "audio"):
        import fixtures_audio
        fixtures_audio.main()
    if args.only in (None, "audio_features"):
        import fixtures_audio_features
        fixtures_audio_features.generate()
    if args.only in (None, "granite"):
        import fixtures_granite
        fixtures_granite.generate()
    if args.only in (None, "granite_speech"):  # after audio: it runs tests/fixtures/audio's clips
        import fixtures_granite_speech
        fixtures_granite_speech.generate()
    if args.only in (None, "gguf_llama"):  # builds llama.cpp outside the tree first if needed (minutes)
        import fixtures_gguf
        fixtures_gguf.generate()
    if args.only in (None, "bf16"):  # after llama and granite_speech: it runs their bf16 checkpoints
        import fixtures_bf16
        fixtures_bf16.generate()
    if args.only in (None, "quant"):
        import fixtures_quant
        fixtures_quant.main()
    if args.only in (None, "gguf_format"):
        import fixtures_gguf_format
        fixtures_gguf_format.main()



if __name__ == "__main__":
    main()
