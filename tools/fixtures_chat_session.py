"""Multi-turn chat-session fixtures (tests/fixtures/chat_session/<case>.json): what transformers does turn by turn
when a conversation continues, for the C side's sessions (`mmrt chat`, the API) that keep the longest common prefix
of their KV cache and prefill only the rest.

Each turn: the checkpoint's chat template renders the WHOLE conversation (previous assistant replies included as
their printed text, decode(reply_ids, skip_special_tokens=True)) with add_generation_prompt=True, the processor /
tokenizer turns it into ids (images expanded), and model.generate(do_sample=False, max_new_tokens=16) replies
(float32, eager attention, CPU, one thread). The checkpoints are existing fixtures, used by reference (their file
hashes are recorded), never copied. No tensors: one small JSON file per case.
"""

import os

import torch
from tokenizers import Tokenizer

import transformers
from transformers import AutoTokenizer, Idefics3ForConditionalGeneration, LlamaForCausalLM

import fixtures_common as fc
import fixtures_smolvlm
from common import FIXTURES_DIR, rel, sha256_bytes, versions, write_json

OUT_DIR = os.path.join(FIXTURES_DIR, "chat_session")

NEW_TOKENS = 16
MARGIN_FACTOR = 1e-3  # as the Llama / SmolVLM fixtures: min top1-top2 gap >= MARGIN_FACTOR * max |logit|

# gqa-tied-bf16 is the SmolLM2-like Llama fixture (GQA, tied embeddings, bf16 weights as the real SmolLM2 files,
# the deepest of the four); all four share the same tokenizer files and SmolLM2 chat template.
LLAMA_CKPT = os.path.join(FIXTURES_DIR, "llama", "gqa-tied-bf16")
SMOLVLM_CKPT = os.path.join(FIXTURES_DIR, "smolvlm", "split")
IMAGE = os.path.join(FIXTURES_DIR, "images", "astronaut.png")  # the image of the smolvlm/split fixture

# Per case, candidate user texts (one per turn), tried in order; the first whose every turn passes `acceptable`
# is used. Later candidates only exist to replace texts that give too small a greedy margin.
CASES = {
    "text": dict(
        description="Llama (SmolLM2-like, tests/fixtures/llama/gqa-tied-bf16), 3 turns, no system message (the "
                    "SmolLM2 template then inserts its default system message)",
        kind="text", system=None,
        candidates=[
            ["Hello! Who are you?", "Tell me about the sea — briefly.", "Thanks. One more word?"],
            ["Hello! Who are you?", "Tell me about the sea, café style.", "Thanks! One more word?"],
            ["Hi! Who are you?", "Tell me about the sea — in short.", "Thanks. Just one more word?"],
            ["Hello there! Who are you?", "What about the sea? Be brief — please.", "Thank you. One more word?"],
        ]),
    "text-system": dict(
        description="Llama (SmolLM2-like, tests/fixtures/llama/gqa-tied-bf16), system message 'You are terse.', "
                    "2 turns",
        kind="text", system="You are terse.",
        candidates=[
            ["Hello! Who are you?", "Name a colour — any one."],
            ["Hi! Who are you?", "Name a colour — just one."],
            ["Hello there! Who are you?", "Which colour is the sea — blue?"],
        ]),
    "vision": dict(
        description="Idefics3 (tests/fixtures/smolvlm/split, its processor with the slow PIL image processor), "
                    "3 turns; the image (tests/fixtures/images/astronaut.png, 3x3 tiles + global) is in the first "
                    "user message and stays in the conversation, so the processor expands its <image> placeholder "
                    "again on every turn",
        kind="vision", system=None, eos_turn=2,
        # turn 1 as the issue gives it; turns 2 and 3 picked by a one-off search over short texts so that turn 2
        # stops at <end_of_utterance> (random weights rarely choose it), which eos_turn requires
        candidates=[
            ["What is in this image?", "Hmm. Is it bright?", "Thanks — one more word?"],
            ["What is in this image?", "Hmm. Is it a photo?", "Good — any text?"],
        ]),
}

TURN_DOC = {
    "messages": "the conversation as passed to apply_chat_template: previous replies as assistant messages whose "
                "text is reply_text (decode(reply_ids, skip_special_tokens=True)); vision: content as a list of "
                "typed parts ({'type': 'image'} / {'type': 'text', 'text': ...}) as SmolVLM's processor expects",
    "rendered": "apply_chat_template(messages, tokenize=False, add_generation_prompt=True)",
    "prompt_ids": "token ids of the whole rendered conversation; text: tokenizer.json encode(rendered, "
                  "add_special_tokens=False), equal to apply_chat_template(tokenize=True); vision: the processor's "
                  "input_ids (every <image> expanded), equal to tokenizer.json encode of the independently expanded "
                  "text",
    "common_prefix_with_previous": "length of the longest common prefix of prompt_ids and (previous turn's "
                                   "prompt_ids + reply_ids); 0 on turn 1. The KV cache of a session that fed the "
                                   "previous turn holds only previous prompt + reply_ids[:-1] (generate never feeds "
                                   "its last token), see reusable_kv. Vision: the prefix covers the image's "
                                   "tokens because the same image is passed every turn (<image> ids are equal for "
                                   "any image)",
    "reusable_kv": "min(common_prefix_with_previous, len(previous prompt_ids) + len(previous reply_ids) - 1): the "
                   "cache entries a session can keep; it prefills prompt_ids[reusable_kv:]",
    "previous_prompt_is_prefix": "previous turn's prompt_ids is a prefix of prompt_ids",
    "reply_ids_survive_retokenization": "previous prompt_ids + previous reply_ids is a prefix of prompt_ids, i.e. "
                                        "re-tokenizing the rendered conversation gives back the generated ids (often "
                                        "not the case: the printed text drops special tokens, turns partial UTF-8 "
                                        "into U+FFFD, and BPE may merge differently); null on turn 1",
    "reply_ids": f"model.generate(do_sample=False, max_new_tokens={NEW_TOKENS}) new tokens (prompt excluded); ends "
                 "with the eos id when stopped_at_eos",
    "reply_text": "tokenizer.decode(reply_ids, skip_special_tokens=True): what mmrt prints and what the next turn's "
                  "messages carry",
    "reply_text_special": "tokenizer.decode(reply_ids, skip_special_tokens=False)",
    "quality": "greedy quality figures (tools/fixtures_common.py greedy_quality): top-2 logit margins from "
               "generate()'s per-step logits and from one no-cache forward over prompt + reply",
}


# ---------------------------------------------------------------------------------------------------------------

def common_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def checkpoint_info(d):
    files = sorted(f for f in os.listdir(d) if f != "reference.json" and not f.startswith("reference."))
    out = {}
    for f in files:
        with open(os.path.join(d, f), "rb") as fh:
            out[f] = sha256_bytes(fh.read())
    return {"dir": rel(d), "files_sha256": out}


@torch.no_grad()
def greedy(model, inputs, eos_ids, forbidden=()):
    """Greedy reply to inputs (input_ids + whatever else the model takes) with its quality figures; the no-cache
    forward for the margins reuses the non-id inputs (pixel_values...)."""
    ids = inputs["input_ids"]
    n = ids.shape[1]
    out = model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=0,
                         output_logits=True, return_dict_in_generate=True)
    new = out.sequences[0, n:].tolist()
    stopped = bool(new) and new[-1] in eos_ids
    assert all(t not in eos_ids for t in new[:-1])
    if set(new) & set(forbidden):
        return new, stopped, None
    step_logits = torch.cat(out.logits, 0).float()
    seq = out.sequences[:, :-1]
    extra = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    full = model(input_ids=seq, attention_mask=torch.ones_like(seq), use_cache=False, **extra).logits[0, n - 1:].float()
    q = fc.greedy_quality(new, "", stopped, step_logits, full)
    del q["text_has_nul"]  # judged on the decoded texts by the caller
    return new, stopped, q


def acceptable(turn, eos_turn):
    q = turn["quality"]
    return (q is not None and turn["stopped_at_eos"] == (turn["turn"] == eos_turn) and q["argmax_matches"]
            and q["min_margin_over_max_abs_logit"] >= MARGIN_FACTOR
            and "\x00" not in turn["reply_text_special"] and turn["reply_text"].strip() != "")


# ---------------------------------------------------------------------------------------------------------------
# The two kinds of checkpoints

class TextSession:
    """Llama checkpoint: AutoTokenizer's chat template; ids from tokenizer.json (what the C side reads)."""

    def __init__(self):
        self.hf = AutoTokenizer.from_pretrained(LLAMA_CKPT)
        self.tok = Tokenizer.from_file(os.path.join(LLAMA_CKPT, "tokenizer.json"))
        self.model = LlamaForCausalLM.from_pretrained(LLAMA_CKPT, dtype=torch.float32,
                                                      attn_implementation="eager").eval()
        self.eos_ids = [self.model.generation_config.eos_token_id]
        self.forbidden = ()

    def user(self, text, first):
        return {"role": "user", "content": text}

    def assistant(self, text):
        return {"role": "assistant", "content": text}

    def prompt(self, messages):
        rendered = self.hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        ids = self.tok.encode(rendered, add_special_tokens=False).ids
        hf_ids = self.hf.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
        hf_ids = hf_ids["input_ids"] if hasattr(hf_ids, "keys") else hf_ids
        assert list(hf_ids) == ids
        assert len(ids) + NEW_TOKENS <= self.model.config.max_position_embeddings
        return rendered, ids, {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids),
                                                                                             dtype=torch.long)}, {}

    def decode(self, ids, skip):
        text = self.hf.decode(ids, skip_special_tokens=skip)
        assert text == self.tok.decode(ids, skip_special_tokens=skip)
        return text


class VisionSession:
    """Idefics3 checkpoint: its processor (slow PIL image processor, loaded as fixtures_smolvlm does) and the image
    as fixtures_smolvlm passes it: a PIL image, EXIF-transposed, alpha kept."""

    def __init__(self):
        self.proc = fixtures_smolvlm.load_processor(SMOLVLM_CKPT)
        assert type(self.proc.image_processor).__name__ == "Idefics3ImageProcessorPil"
        self.tok = Tokenizer.from_file(os.path.join(SMOLVLM_CKPT, "tokenizer.json"))
        self.model = Idefics3ForConditionalGeneration.from_pretrained(SMOLVLM_CKPT, dtype=torch.float32,
                                                                      attn_implementation="eager").eval()
        self.image = fixtures_smolvlm.load_upright(IMAGE)
        self.image_id = self.tok.token_to_id("<image>")
        self.eos_ids = [self.model.generation_config.eos_token_id]
        assert self.eos_ids == [self.tok.token_to_id("<end_of_utterance>")]
        # a generated <image> would be taken for a placeholder by the no-cache forward
        self.forbidden = (self.image_id,)

    def user(self, text, first):
        return {"role": "user", "content": ([{"type": "image"}] if first else []) + [{"type": "text", "text": text}]}

    def assistant(self, text):
        return {"role": "assistant", "content": [{"type": "text", "text": text}]}

    def prompt(self, messages):
        rendered = self.proc.apply_chat_template(messages, add_generation_prompt=True)
        assert rendered.count("<image>") == 1, "a reply must not add an image placeholder"
        inputs = self.proc(images=[self.image], text=rendered, return_tensors="pt")
        ids = inputs["input_ids"][0].tolist()
        rc = self.proc.image_processor(images=[[self.image]], return_tensors="pt", return_row_col_info=True)
        seq_len = self.proc.image_seq_len
        expanded = fixtures_smolvlm.expand_prompt(
            rendered, [{"rows": rc["rows"][0][0], "cols": rc["cols"][0][0]}], seq_len)
        assert self.tok.encode(expanded, add_special_tokens=False).ids == ids, "expanded prompt ids differ"
        n_tiles = inputs["pixel_values"].shape[1]
        assert ids.count(self.image_id) == n_tiles * seq_len
        assert len(ids) + NEW_TOKENS <= self.model.config.text_config.max_position_embeddings
        model_inputs = {k: inputs[k] for k in ("input_ids", "attention_mask", "pixel_values", "pixel_attention_mask")}
        info = {"image_rows_cols": [rc["rows"][0][0], rc["cols"][0][0]], "n_tiles": n_tiles,
                "n_image_tokens": ids.count(self.image_id)}
        return rendered, ids, model_inputs, info

    def decode(self, ids, skip):
        text = self.proc.tokenizer.decode(ids, skip_special_tokens=skip)
        assert text == self.tok.decode(ids, skip_special_tokens=skip)
        return text


# ---------------------------------------------------------------------------------------------------------------

def run_conversation(sess, system, texts, eos_turn=None):
    messages = [] if system is None else [{"role": "system", "content": system}]
    turns = []
    prev = None  # previous turn's prompt_ids + reply_ids
    for k, text in enumerate(texts):
        messages.append(sess.user(text, k == 0))
        snapshot = [dict(m) for m in messages]
        rendered, ids, inputs, info = sess.prompt(messages)
        reply, stopped, q = greedy(sess.model, inputs, sess.eos_ids, sess.forbidden)
        turn = {"turn": k + 1, "messages": snapshot, "rendered": rendered, **info, "n_prompt": len(ids)}
        if prev is None:
            cp, survive, prev_prefix, kv = 0, None, None, 0
        else:
            p_ids, r_ids = prev
            cp = common_prefix(ids, p_ids + r_ids)
            survive = ids[:len(p_ids) + len(r_ids)] == p_ids + r_ids
            prev_prefix = ids[:len(p_ids)] == p_ids
            kv = min(cp, len(p_ids) + len(r_ids) - 1)
        turn.update({"common_prefix_with_previous": cp, "reusable_kv": kv, "n_prefill": len(ids) - kv,
                     "previous_prompt_is_prefix": prev_prefix, "reply_ids_survive_retokenization": survive,
                     "prompt_ids": ids, "n_reply": len(reply), "stopped_at_eos": stopped, "reply_ids": reply,
                     "reply_text": sess.decode(reply, True), "reply_text_special": sess.decode(reply, False),
                     "quality": q})
        turns.append(turn)
        if not acceptable(turn, eos_turn):
            return turns, False
        messages.append(sess.assistant(turn["reply_text"]))
        prev = (ids, reply)
    return turns, True


def build_case(name, sess):
    spec = CASES[name]
    rejected = []
    for i, texts in enumerate(spec["candidates"]):
        turns, ok = run_conversation(sess, spec["system"], texts, spec.get("eos_turn"))
        if ok:
            break
        bad = turns[-1]
        rejected.append({"texts": texts, "failed_turn": bad["turn"],
                         "stopped_at_eos": bad["stopped_at_eos"],
                         "margin_ratio": None if bad["quality"] is None
                         else bad["quality"]["min_margin_over_max_abs_logit"]})
    else:
        raise RuntimeError(f"chat_session {name}: no candidate texts give a clear greedy margin on every turn")
    ckpt = LLAMA_CKPT if spec["kind"] == "text" else SMOLVLM_CKPT
    obj = {
        "case": name,
        "description": spec["description"],
        "versions": fixtures_smolvlm.all_versions() if spec["kind"] == "vision" else versions(),
        "checkpoint": checkpoint_info(ckpt),
        "images": ([{"file": rel(IMAGE), "sha256": sha256_bytes(open(IMAGE, "rb").read()),
                     "load": "PIL Image.open + ImageOps.exif_transpose (fixtures_smolvlm.load_upright), passed to "
                             "the processor as a PIL image, in every turn"}] if spec["kind"] == "vision" else []),
        "system": spec["system"],
        "user_texts": texts,
        "texts_rejected": rejected,
        "generation": {
            "call": f"model.generate(**inputs, do_sample=False, max_new_tokens={NEW_TOKENS}) in float32, eager "
                    "attention, CPU, torch.set_num_threads(1); inputs are the whole conversation of the turn",
            "eos_token_ids": sess.eos_ids,
            "criteria": f"every turn: min over steps of (top1 - top2) >= {MARGIN_FACTOR} * max |logit| over the "
                        "turn's steps, for generate()'s cached per-step logits and for a no-cache forward, with the "
                        "same argmax; no U+0000 in the decoded reply; a non-blank reply_text; "
                        + (f"turn {spec['eos_turn']} stops at eos, no other turn does" if spec.get("eos_turn")
                           else "no turn stops at eos (none does with these weights and texts)")
                        + ("; no <image> token generated" if spec["kind"] == "vision" else ""),
            "text_note": "reply_text: decode(reply_ids, skip_special_tokens=True) (what mmrt prints); "
                         "reply_text_special: skip_special_tokens=False",
        },
        "turn_fields": TURN_DOC,
        "turns": turns,
    }
    write_json(os.path.join(OUT_DIR, f"{name}.json"), obj)
    os.chmod(os.path.join(OUT_DIR, f"{name}.json"), 0o644)
    print(f"chat_session {name}: " + "; ".join(
        f"t{t['turn']} n={t['n_prompt']} common={t['common_prefix_with_previous']} reply={t['n_reply']}"
        f"{' eos' if t['stopped_at_eos'] else ''} margin={t['quality']['min_margin_over_max_abs_logit']:.4f}"
        f" survive={t['reply_ids_survive_retokenization']}" for t in turns)
          + f" ({len(rejected)} text sets rejected) -> {rel(OUT_DIR)}/{name}.json")


def generate(cases=None):
    fc.deterministic_torch()
    transformers.logging.set_verbosity_error()
    os.makedirs(OUT_DIR, exist_ok=True)
    sessions = {}
    for name in cases or list(CASES):
        kind = CASES[name]["kind"]
        if kind not in sessions:
            sessions[kind] = TextSession() if kind == "text" else VisionSession()
        build_case(name, sessions[kind])

