"""Small tokenizers with the pipelines of the real Granite 3.x and Granite 4.x tokenizers.

`granite3(with_audio=...)` and `granite4(with_audio=...)` return a `transformers.PreTrainedTokenizerFast` whose
`tokenizer.json` declares the same normalizer / pre-tokenizer / model options / decoder / post-processor as the real
file and whose added tokens are the real ones, in the real order and with the real flags, but whose BPE vocabulary
is small (trained with `tokenizers`, deterministic, on `corpus.training_documents()`, the text the other tokenizer
fixtures are trained on). `save_pretrained(d)` writes tokenizer.json + tokenizer_config.json.

What the real files declare, and where each fact comes from (no hub access here; public code was searched):

Granite 3.x (granite-3.x-{2b,8b}-instruct, granite-speech-3.3-*):
* Pre-tokenizer. llama.cpp names it `refact` (convert_hf_to_gguf.py maps its tokenizer hash to the same group as
  Refact-1.6B); llama-vocab.cpp gives that group (STARCODER, REFACT, SMOLLM, ...) two regexes applied in turn:
  `\\p{N}`, then the GPT-2 pattern `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)`.
  In tokenizer.json terms that is Sequence[Digits(individual_digits=true), ByteLevel(add_prefix_space=false,
  trim_offsets=true, use_regex=true)] (the StarCoder tokenizer the Granite 3 vocabulary descends from; llama.cpp
  puts SmolLM2, whose tokenizer.json declares exactly this, in the same group).
* Normalizer null; BPE with no dropout, no unk, no prefixes/suffixes, fuse_unk false, byte_fallback false,
  ignore_merges false; decoder ByteLevel; post-processor ByteLevel(trim_offsets=false) (StarCoder-family files).
  [the decoder / post-processor flags are recalled, not read from a stored copy; they do not change any id.]
* Added tokens: ids 0..18 are the StarCoder specials with `<|end_of_text|>` at id 0 (bos = eos = pad = unk;
  model-families.md B.5, GGUF metadata quoted in public code: bos/eos/padding id 0), then `<fim_prefix>`,
  `<fim_middle>`, `<fim_suffix>`, `<fim_pad>`, `<filename>`, `<gh_stars>`, `<issue_start>`, `<issue_comment>`,
  `<issue_closed>`, `<jupyter_start>`, `<jupyter_text>`, `<jupyter_code>`, `<jupyter_output>`, `<empty_output>`,
  `<commit_before>`, `<commit_msg>`, `<commit_after>`, `<reponame>`; after the 49152-entry BPE vocabulary come
  `<|start_of_role|>`, `<|end_of_role|>`, `<|tool_call|>` (ids 49152..49154; vocab 49155 in the granite-3.0/3.1
  configs), then in Granite 3.3 `<|start_of_cite|>`, `<|end_of_cite|>`, `<|start_of_plugin|>`,
  `<|end_of_plugin|>` (two independent public sources: a Granite 3.3 constants module listing "the complete set
  of special tokens from the Granite 3.3 tokenizer" in id order, and a Keras port of granite-speech-3.3-2b whose
  list ends with `<|audio|>` "at its checkpoint id 49159", vocab 49160). So speech-3.3 appends `<|audio|>` after
  those (49159; GraniteSpeechConfig's default audio_token_index 49155 matches the 3.0/3.1 set, not 3.3).
  `granite3(version="3.3")` (the default) writes the 3.3 set, `version="3.1"` the shorter one.
  The chat format `<|start_of_role|>role<|end_of_role|>content<|end_of_text|>\\n` is quoted in many public
  prompts.

Granite 4.x (granite-4.0-1b(-base), granite-4.0-*-micro, granite-speech-4.x):
* Pre-tokenizer. llama.cpp: `dbrx`, whose regex llama-vocab.cpp calls "same as llama3", i.e. the cl100k pattern
  `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`
  (llama.cpp rewrites `(?i:...)` by hand because its engine lacks inline flags; tokenizer.json keeps `(?i:`).
  In tokenizer.json terms: Sequence[Split(Regex(that pattern), behavior Isolated, invert false),
  ByteLevel(add_prefix_space=false, trim_offsets=true, use_regex=false)], as transformers' TikTokenConverter
  writes for cl100k-derived vocabularies. Normalizer null; decoder ByteLevel; post-processor
  ByteLevel(trim_offsets=false). [ignore_merges: false here; unverified for the real file, it changes no id for
  words the merges can build.]
* Added tokens (ids 100256..100283 in the real file, after the 100256 cl100k-sized BPE entries; copied from a
  public "Granite 4.0 H control token reference" that quotes the tokenizer.json added_tokens, with their
  `special` flags): `<|pad|>`, `<|end_of_text|>`, `<|fim_prefix|>`, `<|fim_middle|>`, `<|fim_suffix|>`,
  `<|fim_pad|>`, `<|filename|>`, `<|reponame|>` (the FIM/file ones special=false), `<|start_of_role|>`,
  `<|end_of_role|>`, `<|unused_1|>`, `<|start_of_plugin|>`, `<|end_of_plugin|>`, `<|unk|>`, `<tool_call>`,
  `</tool_call>`, `<tool_response>`, `</tool_response>`, `<think>`, `</think>` (those six special=false),
  `<think_on>`, `<think_off>`, `<schema>`, `</schema>`, `<tools>`, `</tools>`, `<documents>`, `</documents>`.
  bos = eos = `<|end_of_text|>`, pad `<|pad|>`, unk `<|unk|>` (GGUF metadata quoted in public code: bos = eos =
  100257, pad 100256, unk 100269). Speech 4.x appends `<|audio|>` last (audio_token_index 100352, vocab 100353,
  model-families.md B.6; the ids between are padding rows of the embedding, not tokens).

Here the trained BPE part is small, so the ids differ from the real ones; their order and kind do not.

tokenizer_config.json: save_pretrained writes "tokenizer_class": "TokenizersBackend" (transformers 5.x; its
auto table maps model_type granite to TokenizersBackend too), which keeps the tokenizer.json pipeline. Beware:
with "GPT2Tokenizer" (what older Granite tokenizer_config files name) transformers 5.23 rebuilds the tokenizer
from vocab + merges with a plain ByteLevel pre-tokenizer (models/gpt2/tokenization_gpt2.py), dropping the Split /
Digits step; for the 4.x pipeline that changes ids (18 of the corpus strings here, e.g. runs of newlines). The C
side follows tokenizer.json.
"""

import json
import os
import tempfile

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

import corpus

# cl100k / Llama-3 pattern, as tokenizer.json writes it (see the module docstring).
CL100K_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

AUDIO_TOKEN = "<|audio|>"

GRANITE3_LEADING = ["<|end_of_text|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>",
                    "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>",
                    "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>", "<commit_before>",
                    "<commit_msg>", "<commit_after>", "<reponame>"]
GRANITE3_TRAILING = {"3.1": ["<|start_of_role|>", "<|end_of_role|>", "<|tool_call|>"]}
GRANITE3_TRAILING["3.3"] = GRANITE3_TRAILING["3.1"] + ["<|start_of_cite|>", "<|end_of_cite|>", "<|start_of_plugin|>",
                                                       "<|end_of_plugin|>"]

# (content, special) in the real order.
GRANITE4_ADDED = [("<|pad|>", True), ("<|end_of_text|>", True), ("<|fim_prefix|>", False), ("<|fim_middle|>", False),
                  ("<|fim_suffix|>", False), ("<|fim_pad|>", False), ("<|filename|>", False), ("<|reponame|>", False),
                  ("<|start_of_role|>", True), ("<|end_of_role|>", True), ("<|unused_1|>", True),
                  ("<|start_of_plugin|>", True), ("<|end_of_plugin|>", True), ("<|unk|>", True),
                  ("<tool_call>", False), ("</tool_call>", False), ("<tool_response>", False),
                  ("</tool_response>", False), ("<think>", False), ("</think>", False), ("<think_on>", True),
                  ("<think_off>", True), ("<schema>", True), ("</schema>", True), ("<tools>", True),
                  ("</tools>", True), ("<documents>", True), ("</documents>", True)]

# The shape of a Granite turn (not the real template, which also writes a default system prompt with a date).
CHAT_TEMPLATE = (
    "{%- for message in messages %}{{- '<|start_of_role|>' + message['role'] + '<|end_of_role|>' + "
    "message['content'] + '<|end_of_text|>\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_of_role|>assistant<|end_of_role|>' }}{%- endif %}")

DEFAULT_VOCAB = 1024

_DOCS = None


def _docs():
    global _DOCS
    if _DOCS is None:
        _DOCS, _ = corpus.training_documents()
    return _DOCS


def _token(content, special):
    # Every added token in both real files: normalized false, no strip, not single_word.
    return AddedToken(content, special=special, normalized=False, lstrip=False, rstrip=False, single_word=False)


def _bpe(ignore_merges):
    return models.BPE(dropout=None, continuing_subword_prefix="", end_of_word_suffix="",
                      fuse_unk=False, byte_fallback=False, ignore_merges=ignore_merges)


def _train(tok, vocab_size, leading_specials):
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[_token(s, True) for s in leading_specials],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_docs(), trainer)
    return tok


def _wrap(tok, bos, eos, pad, unk, chat_template):
    """Round-trips tok through tokenizer.json text (what the C side reads) and wraps it for save_pretrained."""
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_str(tok.to_str())
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=unk,
                                 clean_up_tokenization_spaces=False, model_max_length=8192)
    if chat_template is not None:
        hf.chat_template = chat_template
    return hf


def granite3_tokenizer(with_audio=True, vocab_size=DEFAULT_VOCAB, version="3.3"):
    """The `tokenizers.Tokenizer` of granite3()."""
    tok = Tokenizer(_bpe(ignore_merges=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=True)
    _train(tok, vocab_size, GRANITE3_LEADING)
    assert tok.get_vocab_size() == vocab_size, tok.get_vocab_size()
    trailing = GRANITE3_TRAILING[version] + ([AUDIO_TOKEN] if with_audio else [])
    tok.add_special_tokens([_token(s, True) for s in trailing])
    assert [tok.token_to_id(s) for s in GRANITE3_LEADING] == list(range(len(GRANITE3_LEADING)))
    assert [tok.token_to_id(s) for s in trailing] == list(range(vocab_size, vocab_size + len(trailing)))
    return tok


def granite4_tokenizer(with_audio=True, vocab_size=DEFAULT_VOCAB):
    """The `tokenizers.Tokenizer` of granite4()."""
    tok = Tokenizer(_bpe(ignore_merges=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern=Regex(CL100K_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    _train(tok, vocab_size, [])
    assert tok.get_vocab_size() == vocab_size, tok.get_vocab_size()
    added = GRANITE4_ADDED + ([(AUDIO_TOKEN, True)] if with_audio else [])
    # add_tokens keeps the special flag of an AddedToken; add_special_tokens would force it to true.
    tok.add_tokens([_token(c, s) for c, s in added])
    assert [tok.token_to_id(c) for c, _ in added] == list(range(vocab_size, vocab_size + len(added)))
    return tok


def granite3(with_audio=True, vocab_size=DEFAULT_VOCAB, chat_template=CHAT_TEMPLATE, version="3.3"):
    """Granite 3.x-pipeline tokenizer (bos = eos = pad = unk = `<|end_of_text|>`, id 0) with the added tokens of
    Granite `version` ("3.3" or "3.1"); `<|audio|>` last when with_audio (as in granite-speech-3.3)."""
    tok = granite3_tokenizer(with_audio, vocab_size, version)
    eot = "<|end_of_text|>"
    return _wrap(tok, eot, eot, eot, eot, chat_template)


def granite4(with_audio=True, vocab_size=DEFAULT_VOCAB, chat_template=CHAT_TEMPLATE):
    """Granite 4.x-pipeline tokenizer (bos = eos = `<|end_of_text|>`, pad `<|pad|>`, unk `<|unk|>`); `<|audio|>`
    last when with_audio (as in granite-speech-4.x)."""
    tok = granite4_tokenizer(with_audio, vocab_size)
    return _wrap(tok, "<|end_of_text|>", "<|end_of_text|>", "<|pad|>", "<|unk|>", chat_template)


def _self_check():
    """The saved files read back by AutoTokenizer give the ids `tokenizers` gives (run this module to check)."""
    from transformers import AutoTokenizer

    for name, make in (("granite3", granite3), ("granite4", granite4)):
        hf = make()
        with tempfile.TemporaryDirectory() as d:
            hf.save_pretrained(d)
            back = AutoTokenizer.from_pretrained(d)
            raw = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
            j = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))
            for s in corpus.test_strings() + ["<|start_of_role|>user<|end_of_role|><|audio|>12345 it's<|end_of_text|>"]:
                ids = raw.encode(s, add_special_tokens=False).ids
                assert back(s, add_special_tokens=False)["input_ids"] == ids, (name, s)
            print(name, type(back).__name__, raw.get_vocab_size(), json.dumps(j["pre_tokenizer"])[:120])


if __name__ == "__main__":
    _self_check()
