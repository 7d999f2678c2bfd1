"""Chat-template fixtures: real chat templates of published checkpoints, rendered by transformers' own code path.

tests/fixtures/chat_templates/
  templates/<id>.jinja   the template text exactly as published (bytes as found at the recorded source)
  cases.json             {"versions", "now", "notes", "templates": [{"id", "file", "source", "family", "sha256",
                         "cases": [{"name", "context", "expected" | "error"}]}]}

Each case is rendered with `transformers.utils.chat_template_utils.render_jinja_template`, called as
`apply_chat_template` calls it: messages with None-valued keys dropped, the tokenizer's named special tokens
(`special_tokens_map`: bos/eos/unk/sep/pad/cls/mask plus model-specific ones such as Gemma 3's image_token) merged
under the extra template kwargs. "context" is exactly the keyword arguments transformers passes to
`Template.render` (captured, not reconstructed: messages after `_plain_template_data` and `_alias_reasoning_fields`,
`tools`, `documents`, `add_generation_prompt`, the special tokens, extra kwargs). Every case is re-rendered from its
stored JSON context with the compiled template (`_compile_jinja_template(t).render(**context)`) and must give the
same text (or the same error). "error" cases are the template's own `raise_exception(...)` messages; any other
failure (TypeError, undefined attribute, ...) drops the case, since it says nothing about the template's intent.

strftime_now: transformers formats `datetime.now()` (local time, naive). It is pinned to NOW_UTC (naive, UTC wall
clock) by replacing the `datetime` that chat_template_utils uses; "now" in cases.json is that instant as unix seconds.
A C renderer must format the same instant in UTC (C locale: English month/day names).

Template sources (no model hub is reachable here): the llama.cpp tree vendored in PyPI's llama-cpp-python sdist
(models/templates/*.jinja, written by llama.cpp's scripts/get_chat_template.py from the hub, and a few inline
literals of tests/test-chat-template.cpp), transformers' own modules, and hub files quoted verbatim in public
GitHub repositories. Run once with --llama-cpp-sdist to (re)copy the llama.cpp ones; without it the committed
.jinja files are used as they are.

    /work/venv/bin/python tools/fixtures_chat_templates.py [--llama-cpp-sdist llama_cpp_python-0.3.36.tar.gz]
"""

import argparse
import ast
import calendar
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import sys
import tarfile

sys.dont_write_bytecode = True  # keep tools/ free of __pycache__

import jinja2  # noqa: E402
import transformers  # noqa: E402
from transformers.models.smolvlm import processing_smolvlm  # noqa: E402
from transformers.utils import chat_template_utils as ctu  # noqa: E402

from common import FIXTURES_DIR, rel, warn_unpinned, write_json  # noqa: E402

OUT_DIR = os.path.join(FIXTURES_DIR, "chat_templates")
LLAMA_CPP_PYTHON = "0.3.36"  # its sdist vendors llama.cpp at commit 0c1e57098bba43ac29e6e3b677cdceebdd22334f
LLAMA_CPP_COMMIT = "0c1e57098"
SDIST_ROOT = f"llama_cpp_python-{LLAMA_CPP_PYTHON}/vendor/llama.cpp/"

# 2026-01-15 12:00:00 UTC. transformers' strftime_now formats datetime.now() (local time); we make it return this
# naive UTC wall-clock time, and the C side formats the same instant in UTC.
NOW_UTC = _dt.datetime(2026, 1, 15, 12, 0, 0)
NOW_UNIX = calendar.timegm(NOW_UTC.timetuple())

MAX_BYTES = 1_500_000

# ---------------------------------------------------------------------------------------------------------------
# Templates that are not in the llama.cpp tree.

# HuggingFaceTB/SmolLM2-{135M,360M,1.7B}-Instruct tokenizer_config.json "chat_template"; the same text is quoted
# as verbatim by tools/fixtures_llama.py and by public repositories that read it from the hub or the GGUF.
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

# HuggingFaceTB/SmolVLM-256M-Instruct chat_template.json: transformers' DEFAULT_CHAT_TEMPLATE without the video
# branch (the hub checkpoints predate video support; tools/fixtures_smolvlm.py uses and checks the same text).
_SMOLVLM_VIDEO = "{% elif line['type'] == 'video' %}{{ '<video>' }}"
SMOLVLM_HUB = processing_smolvlm.DEFAULT_CHAT_TEMPLATE.replace(_SMOLVLM_VIDEO, "")

# microsoft/Phi-4-mini-instruct tokenizer_config.json "chat_template", as quoted (with the hub URL, line 104) in
# public repositories (guidance's chat template registry, function-calling leaderboards).
PHI4_MINI = (
    "{% for message in messages %}{% if message['role'] == 'system' and 'tools' in message and message['tools'] "
    "is not none %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|tool|>' + message['tools'] + "
    "'<|/tool|>' + '<|end|>' }}{% else %}{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}")

# google/gemma-3-*-it chat template as transformers' src/transformers/models/gemma3/convert_gemma3_weights.py
# (_CHAT_TEMPLATE, GitHub huggingface/transformers 0d7e95d9) writes it into converted checkpoints. Taken from the
# source text, so the Jinja string literals keep their \n escapes as in the hub's chat_template.json (Python would
# turn them into real newlines; both render alike).
GEMMA3 = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

# Hub templates quoted in the tests of mistral.rs (GitHub EricLBuehler/mistral.rs 28bf5fbc,
# mistralrs-core/src/pipeline/mod.rs, test_chat_templates / test_image_chat_templates, whose expected outputs were
# made with transformers' apply_chat_template), with the bos/eos/unk tokens listed there. Escapes as the Rust
# literals give them: Llama 2's \n stay Jinja escapes, Idefics2's newline is a real one.
MISTRAL_V01 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}")
LLAMA2_CHAT = (
    r"{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    r"{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    r"{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    r"{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    r"{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    r"{% if loop.index0 == 0 and system_message != false %}"
    r"{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}"
    r"{% else %}{% set content = message['content'] %}{% endif %}"
    r"{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    r"{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}"
    r"{% endfor %}")
IDEFICS2 = (
    "{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}")
MISTRAL_RS = ("as quoted in mistral.rs's tests (GitHub EricLBuehler/mistral.rs 28bf5fbc "
              "mistralrs-core/src/pipeline/mod.rs), not taken from the hub itself")

# ---------------------------------------------------------------------------------------------------------------
# Special tokens: what each checkpoint's tokenizer passes (`special_tokens_map`, in SPECIAL_TOKENS_ATTRIBUTES order,
# then model-specific named tokens). Values from the checkpoints' tokenizer_config.json / special_tokens_map.json
# as published (not re-downloadable here).

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location"],
        },
    },
}
COHERE_TOOL = {  # Command-R's tool_use template reads this (Cohere's) tool format, and needs tools on every call
    "name": "internet_search",
    "description": "Returns a list of relevant document snippets for a textual query retrieved from the internet",
    "parameter_definitions": {"query": {"description": "Query to search the internet with", "type": "str",
                                        "required": True}},
}

LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
QWEN = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
GEMMA = {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"}
MISTRAL = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
GRANITE3 = {"bos_token": "<|end_of_text|>", "eos_token": "<|end_of_text|>", "unk_token": "<|end_of_text|>",
            "pad_token": "<|end_of_text|>"}
GRANITE4 = {"bos_token": "<|end_of_text|>", "eos_token": "<|end_of_text|>", "unk_token": "<|unk|>",
            "pad_token": "<|pad|>"}
DEEPSEEK = {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>",
            "pad_token": "<｜end▁of▁sentence｜>"}

LLAMA_CPP = "llama.cpp"          # models/templates/<file> in the sdist
LLAMA_CPP_TEST = "llama.cpp-test"  # inline literal in tests/test-chat-template.cpp, by its .name
TEXT = "text"                    # a constant above

# Case groups a template gets besides the basic ones: "tools" (tools list + a tool-call round trip), "reasoning"
# (an assistant turn with reasoning_content), "list" (content as typed parts only), "image" (image parts),
# "video", "audio" (Granite Speech's "<|audio|>" in a string), "documents", "sys_tools" (Phi-4-mini's
# system-message tools string).
TEMPLATES = [
    dict(id="smollm2-instruct", family="smollm2", origin=(TEXT, SMOLLM2),
         source="HuggingFaceTB/SmolLM2-1.7B-Instruct (same in -135M/-360M-Instruct) tokenizer_config.json "
                "chat_template (text as quoted verbatim in tools/fixtures_llama.py and public repositories)",
         specials={"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>",
                   "pad_token": "<|im_end|>"}, groups=[]),
    dict(id="smolvlm-256m-instruct", family="smolvlm", origin=(TEXT, SMOLVLM_HUB),
         source="HuggingFaceTB/SmolVLM-256M-Instruct chat_template.json (= transformers 5.23.0 "
                "models/smolvlm/processing_smolvlm.py DEFAULT_CHAT_TEMPLATE without its video branch; the copies "
                "in tests/fixtures/smolvlm/*/chat_template.* are this text)",
         specials={"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "unk_token": "<|endoftext|>",
                   "pad_token": "<|im_end|>"}, groups=["list", "image"]),
    dict(id="smolvlm-transformers-default", family="smolvlm", origin=(TEXT, processing_smolvlm.DEFAULT_CHAT_TEMPLATE),
         source="transformers 5.23.0 models/smolvlm/processing_smolvlm.py DEFAULT_CHAT_TEMPLATE (used by "
                "SmolVLMProcessor when the checkpoint has none; adds video parts)",
         specials={"bos_token": "<|im_start|>", "eos_token": "<end_of_utterance>", "unk_token": "<|endoftext|>",
                   "pad_token": "<|im_end|>"}, groups=["list", "image", "video"]),
    dict(id="granite-3.0-8b-instruct", family="granite3", origin=(LLAMA_CPP_TEST, "ibm-granite/granite-3.0-8b-instruct"),
         source="ibm-granite/granite-3.0-8b-instruct tokenizer_config.json chat_template, via llama.cpp "
                f"{LLAMA_CPP_COMMIT} tests/test-chat-template.cpp (inline literal) in the llama-cpp-python "
                f"{LLAMA_CPP_PYTHON} sdist", specials=GRANITE3, groups=["tools"]),
    dict(id="granite-3.3-2b-instruct", family="granite3", origin=(LLAMA_CPP, "ibm-granite-granite-3.3-2B-Instruct.jinja"),
         source="ibm-granite/granite-3.3-2b-instruct chat template", specials=GRANITE3,
         groups=["tools", "documents", "audio"], kwargs_cases=[("thinking", {"thinking": True})]),
    dict(id="granite-4.0", family="granite4", origin=(LLAMA_CPP, "ibm-granite-granite-4.0.jinja"),
         source="ibm-granite/granite-4.0-* chat template", specials=GRANITE4, groups=["tools", "documents"]),
    dict(id="granite-4.1", family="granite4", origin=(LLAMA_CPP, "ibm-granite-granite-4.1.jinja"),
         source="ibm-granite/granite-4.1-* chat template", specials=GRANITE4, groups=["tools", "documents"]),
    dict(id="phi-3.5-mini-instruct", family="phi3", origin=(LLAMA_CPP, "microsoft-Phi-3.5-mini-instruct.jinja"),
         source="microsoft/Phi-3.5-mini-instruct tokenizer_config.json chat_template",
         specials={"bos_token": "<s>", "eos_token": "<|endoftext|>", "unk_token": "<unk>",
                   "pad_token": "<|endoftext|>"}, groups=[]),
    dict(id="phi-4-mini-instruct", family="phi4", origin=(TEXT, PHI4_MINI),
         source="microsoft/Phi-4-mini-instruct tokenizer_config.json chat_template (as quoted verbatim, with the "
                "hub URL, in public GitHub repositories; not taken from the hub itself)",
         specials={"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
                   "pad_token": "<|endoftext|>"}, groups=["sys_tools"]),
    dict(id="llama-3.1-8b-instruct", family="llama3", origin=(LLAMA_CPP, "meta-llama-Llama-3.1-8B-Instruct.jinja"),
         source="meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json chat_template (llama.cpp's copy of "
                "meta-llama/Llama-3.3-70B-Instruct's is byte-identical)", specials=LLAMA3, groups=["tools"],
         kwargs_cases=[("date_string", {"date_string": "15 Jan 2026"})]),
    dict(id="llama-3.2-3b-instruct", family="llama3", origin=(LLAMA_CPP, "meta-llama-Llama-3.2-3B-Instruct.jinja"),
         source="meta-llama/Llama-3.2-3B-Instruct tokenizer_config.json chat_template", specials=LLAMA3,
         groups=["tools"]),
    dict(id="qwen2.5-7b-instruct", family="qwen2.5", origin=(LLAMA_CPP, "Qwen-Qwen2.5-7B-Instruct.jinja"),
         source="Qwen/Qwen2.5-7B-Instruct tokenizer_config.json chat_template", specials=QWEN, groups=["tools"]),
    dict(id="qwq-32b", family="qwq", origin=(LLAMA_CPP, "Qwen-QwQ-32B.jinja"),
         source="Qwen/QwQ-32B tokenizer_config.json chat_template", specials=QWEN, groups=["tools", "reasoning"]),
    dict(id="qwen3-0.6b", family="qwen3", origin=(LLAMA_CPP, "Qwen-Qwen3-0.6B.jinja"),
         source="Qwen/Qwen3-0.6B tokenizer_config.json chat_template", specials=QWEN, groups=["tools", "reasoning"],
         kwargs_cases=[("no_thinking", {"enable_thinking": False})]),
    dict(id="gemma-2-2b-it", family="gemma2", origin=(LLAMA_CPP, "google-gemma-2-2b-it.jinja"),
         source="google/gemma-2-2b-it tokenizer_config.json chat_template (google/gemma-7b-it's, as quoted in "
                "mistral.rs's tests, is byte-identical)", specials=GEMMA, groups=[]),
    dict(id="gemma-3-it", family="gemma3", origin=(TEXT, GEMMA3),
         source="google/gemma-3-{4b,12b,27b}-it chat template, via transformers (GitHub huggingface/transformers "
                "0d7e95d9) src/transformers/models/gemma3/convert_gemma3_weights.py _CHAT_TEMPLATE, the template "
                "that script writes into converted checkpoints; not compared with the hub file itself",
         specials={**GEMMA, "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                   "image_token": "<image_soft_token>"}, groups=["image"]),
    dict(id="mistral-7b-instruct-v0.1", family="mistral", origin=(TEXT, MISTRAL_V01),
         source="mistralai/Mistral-7B-Instruct-v0.1 tokenizer_config.json chat_template, " + MISTRAL_RS,
         specials=MISTRAL, groups=[]),
    dict(id="llama-2-13b-chat", family="llama2", origin=(TEXT, LLAMA2_CHAT),
         source="meta-llama/Llama-2-13b-chat-hf tokenizer_config.json chat_template, " + MISTRAL_RS,
         specials=MISTRAL, groups=[]),
    dict(id="idefics2-8b-chatty", family="idefics2", origin=(TEXT, IDEFICS2),
         source="HuggingFaceM4/idefics2-8b-chatty chat template, " + MISTRAL_RS,
         specials=MISTRAL, groups=["list", "image"]),
    dict(id="mistral-7b-instruct-v0.2", family="mistral", origin=(LLAMA_CPP_TEST,
         "mistralai/Mistral-7B-Instruct-v0.2 (NOTE: Old pre-v1 without a system prompt)"),
         source="mistralai/Mistral-7B-Instruct-v0.2 tokenizer_config.json chat_template (the old one, no system "
                f"prompt), via llama.cpp {LLAMA_CPP_COMMIT} tests/test-chat-template.cpp (inline literal) in the "
                f"llama-cpp-python {LLAMA_CPP_PYTHON} sdist", specials=MISTRAL, groups=[]),
    dict(id="mistral-nemo-instruct-2407", family="mistral", origin=(LLAMA_CPP, "mistralai-Mistral-Nemo-Instruct-2407.jinja"),
         source="mistralai/Mistral-Nemo-Instruct-2407 tokenizer_config.json chat_template", specials=MISTRAL,
         groups=["tools"]),
    dict(id="mistral-small-3.2-24b-instruct-2506", family="mistral",
         origin=(LLAMA_CPP, "Mistral-Small-3.2-24B-Instruct-2506.jinja"),
         source="mistralai/Mistral-Small-3.2-24B-Instruct-2506 chat template (llama.cpp file name; that repo "
                "ships it as chat_template.jinja)", specials=MISTRAL, groups=["tools"]),
    dict(id="ministral-3-14b-reasoning-2512", family="mistral",
         origin=(LLAMA_CPP, "mistralai-Ministral-3-14B-Reasoning-2512.jinja"),
         source="mistralai/Ministral-3-14B-Reasoning-2512 chat template", specials=MISTRAL, groups=["tools"]),
    dict(id="deepseek-r1-distill-llama-8b", family="deepseek-r1",
         origin=(LLAMA_CPP, "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja"),
         source="deepseek-ai/DeepSeek-R1-Distill-Llama-8B tokenizer_config.json chat_template", specials=DEEPSEEK,
         groups=["reasoning"]),
    dict(id="deepseek-r1-distill-qwen-32b", family="deepseek-r1",
         origin=(LLAMA_CPP, "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"),
         source="deepseek-ai/DeepSeek-R1-Distill-Qwen-32B tokenizer_config.json chat_template", specials=DEEPSEEK,
         groups=["reasoning"]),
    dict(id="command-r-plus-default", family="command-r", origin=(LLAMA_CPP_TEST, "CohereForAI/c4ai-command-r-plus"),
         source="CohereForAI/c4ai-command-r-plus tokenizer_config.json chat_template 'default', via llama.cpp "
                f"{LLAMA_CPP_COMMIT} tests/test-chat-template.cpp (inline literal) in the llama-cpp-python "
                f"{LLAMA_CPP_PYTHON} sdist",
         specials={"bos_token": "<BOS_TOKEN>", "eos_token": "<|END_OF_TURN_TOKEN|>", "pad_token": "<PAD>"},
         groups=[]),
    dict(id="command-r-plus-tool_use", family="command-r",
         origin=(LLAMA_CPP, "CohereForAI-c4ai-command-r-plus-tool_use.jinja"),
         source="CohereForAI/c4ai-command-r-plus tokenizer_config.json chat_template 'tool_use'",
         specials={"bos_token": "<BOS_TOKEN>", "eos_token": "<|END_OF_TURN_TOKEN|>", "pad_token": "<PAD>"},
         groups=[], tools=[COHERE_TOOL]),
    dict(id="command-r7b-12-2024-tool_use", family="command-r",
         origin=(LLAMA_CPP, "CohereForAI-c4ai-command-r7b-12-2024-tool_use.jinja"),
         source="CohereForAI/c4ai-command-r7b-12-2024 tokenizer_config.json chat_template 'tool_use'",
         specials={"bos_token": "<BOS_TOKEN>", "eos_token": "<|END_OF_TURN_TOKEN|>", "unk_token": "<UNK>",
                   "sep_token": "<SEP>", "pad_token": "<PAD>", "cls_token": "<CLS>", "mask_token": "<MASK_TOKEN>"},
         groups=["tools"]),
    dict(id="hermes-3-llama-3.1-8b-tool_use", family="hermes",
         origin=(LLAMA_CPP, "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja"),
         source="NousResearch/Hermes-3-Llama-3.1-8B tokenizer_config.json chat_template 'tool_use' (llama.cpp's "
                "copy of NousResearch/Hermes-2-Pro-Llama-3-8B's is byte-identical)",
         specials={"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>", "pad_token": "<|end_of_text|>"},
         groups=["tools"], tools=[WEATHER_TOOL]),
    dict(id="functionary-medium-v3.1", family="functionary", origin=(LLAMA_CPP, "meetkai-functionary-medium-v3.1.jinja"),
         source="meetkai/functionary-medium-v3.1 tokenizer_config.json chat_template", specials=LLAMA3,
         groups=["tools"]),
    dict(id="functionary-medium-v3.2", family="functionary", origin=(LLAMA_CPP, "meetkai-functionary-medium-v3.2.jinja"),
         source="meetkai/functionary-medium-v3.2 tokenizer_config.json chat_template", specials=LLAMA3,
         groups=["tools"]),
    dict(id="firefunction-v2", family="firefunction", origin=(LLAMA_CPP, "fireworks-ai-llama-3-firefunction-v2.jinja"),
         source="fireworks-ai/llama-3-firefunction-v2 tokenizer_config.json chat_template", specials=LLAMA3,
         groups=[],  # reads the functions (a JSON string) and datetime kwargs on every call, as its model card passes them
         kwargs={"functions": json.dumps([WEATHER_TOOL["function"]], ensure_ascii=False, indent=2),
                 "datetime": "2026-01-15"}),
    dict(id="smollm3-3b", family="smollm3", origin=(LLAMA_CPP, "HuggingFaceTB-SmolLM3-3B.jinja"),
         source="HuggingFaceTB/SmolLM3-3B chat template", specials={"eos_token": "<|im_end|>", "pad_token": "<|im_end|>"},
         groups=["tools", "reasoning"], kwargs_cases=[("no_think", {"enable_thinking": False})]),
    dict(id="gpt-oss-120b", family="gpt-oss", origin=(LLAMA_CPP, "openai-gpt-oss-120b.jinja"),
         source="openai/gpt-oss-120b chat template",
         specials={"bos_token": "<|startoftext|>", "eos_token": "<|return|>", "pad_token": "<|endoftext|>"},
         groups=["tools", "reasoning"], kwargs_cases=[("reasoning_high", {"reasoning_effort": "high"})]),
    dict(id="apertus-8b-instruct", family="apertus", origin=(LLAMA_CPP, "Apertus-8B-Instruct.jinja"),
         source="swiss-ai/Apertus-8B-Instruct-2509 chat template (llama.cpp file Apertus-8B-Instruct.jinja)",
         specials={"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"},
         groups=["tools"]),
]


def _source_note(t):
    kind, name = t["origin"]
    if kind == LLAMA_CPP:
        return (f"{t['source']}, via llama.cpp {LLAMA_CPP_COMMIT} models/templates/{name} in the llama-cpp-python "
                f"{LLAMA_CPP_PYTHON} sdist")
    return t["source"]


# ---------------------------------------------------------------------------------------------------------------
# Template import

def _cpp_test_literals(cpp):
    """name -> template text of the inline test cases of llama.cpp's tests/test-chat-template.cpp."""
    out = {}
    pat = r'/\* \.name= \*/ "([^"]*)",\s*(?://[^\n]*\n\s*)*/\* \.template_str= \*/ ("(?:[^"\\]|\\.)*")\s*,'
    for m in re.finditer(pat, cpp):
        out[m.group(1)] = ast.literal_eval(m.group(2))  # C and Python agree on the escapes these use
    return out


def import_templates(sdist):
    """Writes templates/<id>.jinja for the llama.cpp-sourced templates from the sdist tarball."""
    with tarfile.open(sdist) as tar:
        def read(path):
            return tar.extractfile(SDIST_ROOT + path).read().decode("utf-8")
        cpp = _cpp_test_literals(read("tests/test-chat-template.cpp"))
        for t in TEMPLATES:
            kind, name = t["origin"]
            if kind == LLAMA_CPP:
                _write_template(t["id"], read("models/templates/" + name))
            elif kind == LLAMA_CPP_TEST:
                _write_template(t["id"], cpp[name])


def _template_path(tid):
    return os.path.join(OUT_DIR, "templates", tid + ".jinja")


def _write_template(tid, text):
    os.makedirs(os.path.dirname(_template_path(tid)), exist_ok=True)
    with open(_template_path(tid), "w", encoding="utf-8", newline="") as f:
        f.write(text)


def _read_template(tid):
    with open(_template_path(tid), encoding="utf-8", newline="") as f:
        return f.read()


# ---------------------------------------------------------------------------------------------------------------
# Conversations

SYS = "You are a concise assistant."
TRICKY_USER = ("Translate: 日本語のテキスト 🙂🚀 — café, naïve, Ωmega.\nLine two has \"double\" and 'single' quotes, "
               "{braces}, {{ not_a_var }}, {% not_a_tag %}, a backslash \\ and a\ttab.")
TRICKY_ASSISTANT = "Voilà : « Japanese text » 😀\n{\"json\": [1, 2.5, null], \"ok\": true}\n</s> <|im_end|> stays text."
TOOL_CALL_ID = "call12345"  # Mistral templates require 9 alphanumeric characters


def _text_parts(text):
    return [{"type": "text", "text": text}]


def cases_for(t):
    """(name, messages, add_generation_prompt, extra) for template t; extra holds tools/documents/kwargs."""
    groups = set(t["groups"])
    if "list" in groups:
        c = _text_parts
    else:
        def c(text):
            return text
    out = [
        ("user_gen", [{"role": "user", "content": c("What is the capital of France?")}], True, {}),
        ("user_no_gen", [{"role": "user", "content": c("Hello!")}], False, {}),
        ("system_user_gen", [{"role": "system", "content": c(SYS)},
                             {"role": "user", "content": c("Name three primes.")}], True, {}),
        ("multi_turn_no_gen", [{"role": "user", "content": c("Hi there.")},
                               {"role": "assistant", "content": c("Hello! How can I help?")},
                               {"role": "user", "content": c("Tell me a joke.")}], False, {}),
        ("system_multi_turn_gen", [{"role": "system", "content": c(SYS)},
                                   {"role": "user", "content": c("2+2?")},
                                   {"role": "assistant", "content": c("4")},
                                   {"role": "user", "content": c("And 3+3?")}], True, {}),
        ("unicode_quotes_braces", [{"role": "system", "content": c("Réponds en français, s'il te plaît.")},
                                   {"role": "user", "content": c(TRICKY_USER)},
                                   {"role": "assistant", "content": c(TRICKY_ASSISTANT)},
                                   {"role": "user", "content": c("  padded with spaces and newlines  \n\n")}],
         True, {}),
        ("assistant_last_no_gen", [{"role": "user", "content": c("Say OK.")},
                                   {"role": "assistant", "content": c("OK.")}], False, {}),
        ("two_users_in_a_row", [{"role": "user", "content": c("First.")},
                                {"role": "user", "content": c("Second.")}], True, {}),
        ("assistant_first", [{"role": "assistant", "content": c("I speak first.")},
                             {"role": "user", "content": c("Fine.")}], True, {}),
    ]
    if "image" in groups:
        out += [
            ("image_text_gen", [{"role": "user", "content": [{"type": "image"},
                                                             {"type": "text", "text": "What is in this image?"}]}],
             True, {}),
            ("system_images_multi_turn", [
                {"role": "system", "content": _text_parts("Describe images precisely.")},
                {"role": "user", "content": [{"type": "image", "url": "https://example.com/cat.png"},
                                             {"type": "text", "text": "Describe this."}]},
                {"role": "assistant", "content": _text_parts("A cat on a sofa.")},
                {"role": "user", "content": [{"type": "text", "text": "Compare with:"}, {"type": "image"},
                                             {"type": "text", "text": " and this one "}, {"type": "image"}]}],
             True, {}),
        ]
    if "video" in groups:
        out.append(("video_text_gen", [{"role": "user", "content": [{"type": "video"},
                                                                    {"type": "text", "text": "What happens?"}]}],
                    True, {}))
    if "audio" in groups:
        out.append(("speech_transcribe_gen", [
            {"role": "system", "content": "Knowledge Cutoff Date: April 2024.\nToday's Date: January 15, 2026.\n"
                                          "You are Granite, developed by IBM. You are a helpful AI assistant"},
            {"role": "user", "content": "<|audio|>can you transcribe the speech into a written format?"}], True, {}))
        out.append(("speech_no_system_gen", [{"role": "user", "content": "<|audio|>what is said here?"}], True, {}))
    if "tools" in groups:
        out.append(("tools_user_gen", [{"role": "user", "content": "What's the weather in Paris?"}], True,
                    {"tools": [WEATHER_TOOL]}))
        out.append(("tools_call_roundtrip_gen", [
            {"role": "system", "content": SYS},
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": TOOL_CALL_ID, "type": "function",
                 "function": {"name": "get_weather", "arguments": {"location": "Paris", "unit": "celsius"}}}]},
            {"role": "tool", "tool_call_id": TOOL_CALL_ID, "name": "get_weather",
             "content": "{\"temperature\": 18, \"sky\": \"clear\"}"}], True, {"tools": [WEATHER_TOOL]}))
    if "documents" in groups:
        out.append(("documents_gen", [{"role": "user", "content": "Summarise the document."}], True,
                    {"documents": [{"doc_id": 1, "title": "Café notes", "text": "Espresso is brewed under pressure."},
                                   {"doc_id": 2, "title": "Tea", "text": "Green tea: 80 °C, 2 minutes."}]}))
    if "reasoning" in groups:
        out.append(("reasoning_history_gen", [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "2 + 2 = 4.", "reasoning_content": "Add two and two: four."},
            {"role": "user", "content": "And times 3?"}], True, {}))
        out.append(("reasoning_final_no_gen", [
            {"role": "user", "content": "Is 91 prime?"},
            {"role": "assistant", "content": "No: 91 = 7 × 13.", "reasoning_content": "Try 7: 7 × 13 = 91."}],
            False, {}))
    if "sys_tools" in groups:
        out.append(("system_tools_string_gen", [
            {"role": "system", "content": "You can call functions.", "tools": json.dumps([WEATHER_TOOL["function"]])},
            {"role": "user", "content": "Weather in Tokyo (東京)?"}], True, {}))
    for name, kw in t.get("kwargs_cases", []):
        out.append((f"kwargs_{name}", [{"role": "system", "content": SYS},
                                       {"role": "user", "content": "Is 17 prime?"}], True, {"kwargs": kw}))
    if "tools" in t:
        out = [(name, messages, agp, {"tools": t["tools"], **extra}) for name, messages, agp, extra in out]
    if "kwargs" in t:
        out = [(name, messages, agp, {**extra, "kwargs": {**t["kwargs"], **extra.get("kwargs", {})}})
               for name, messages, agp, extra in out]
    return out


def _string_arguments(messages):
    """The same messages with tool-call arguments as a JSON string (some templates concatenate them)."""
    out = []
    for m in messages:
        if "tool_calls" in m:
            m = {**m, "tool_calls": [{**c, "function": {**c["function"], "arguments": json.dumps(
                c["function"]["arguments"], ensure_ascii=False)}} for c in m["tool_calls"]]}
        out.append(m)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Rendering through transformers

class _FixedDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW_UTC if tz is None else NOW_UTC.replace(tzinfo=_dt.timezone.utc).astimezone(tz)


class _Recorder:
    """Stands in for the compiled template inside render_jinja_template and keeps what render() was given."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.context = None

    def render(self, **context):
        self.context = context
        return self.compiled.render(**context)


def render(template, messages, add_generation_prompt, specials, tools=None, documents=None, kwargs=None):
    """(context, text or None, raise_exception message or None, other exception or None)."""
    compile_real = ctu._compile_jinja_template
    recorder = _Recorder(compile_real(template))
    # as apply_chat_template: drop None-valued keys, special tokens first, kwargs overwrite them
    messages = [{k: v for k, v in m.items() if v is not None} for m in messages]
    template_kwargs = {**specials, **(kwargs or {})}
    ctu._compile_jinja_template = lambda _t: recorder
    try:
        rendered, _ = ctu.render_jinja_template(conversations=[messages], tools=tools, documents=documents,
                                                chat_template=template, add_generation_prompt=add_generation_prompt,
                                                **template_kwargs)
        return recorder.context, rendered[0], None, None
    except jinja2.exceptions.TemplateError as e:
        if type(e) is jinja2.exceptions.TemplateError:  # raise_exception(); subclasses are Jinja's own errors
            return recorder.context, None, str(e), None
        return recorder.context, None, None, e
    except Exception as e:  # noqa: BLE001 -- a template bug for this input; the case is dropped
        return recorder.context, None, None, e
    finally:
        ctu._compile_jinja_template = compile_real


def check_direct(template, context, expected, error):
    """The stored JSON context, rendered straight with the compiled template, gives the same text / error."""
    ctx = json.loads(json.dumps(context, ensure_ascii=False))
    compiled = ctu._compile_jinja_template(template)
    try:
        got = compiled.render(**ctx)
    except jinja2.exceptions.TemplateError as e:
        assert error is not None and str(e) == error, (error, str(e))
        return
    assert error is None and got == expected, (expected, got)


def generate(llama_cpp_sdist=None):
    got = {"python": platform.python_version(), "transformers": transformers.__version__,
           "jinja2": jinja2.__version__}
    warn_unpinned({"transformers": "5.23.0", "jinja2": "3.1.6", "python": "3.11.7"}, got,
                  "rendered texts may differ")
    if llama_cpp_sdist:
        import_templates(llama_cpp_sdist)
    ids = [t["id"] for t in TEMPLATES]
    assert len(set(ids)) == len(ids)
    out_templates = []
    texts = {}
    n_cases = n_dropped = 0
    real_datetime = ctu.datetime
    ctu.datetime = _FixedDatetime
    try:
        for t in TEMPLATES:
            kind, value = t["origin"]
            if kind == TEXT:
                _write_template(t["id"], value)
            text = _read_template(t["id"])
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
            assert digest not in texts, f"{t['id']} is byte-identical to {texts.get(digest)}"
            texts[digest] = t["id"]
            cases = []
            for name, messages, agp, extra in cases_for(t):
                args = (agp, t["specials"], extra.get("tools"), extra.get("documents"), extra.get("kwargs"))
                context, expected, error, other = render(text, messages, *args)
                if other is not None and any("tool_calls" in m for m in messages):
                    context, expected, error, other = render(text, _string_arguments(messages), *args)
                    name += "_string_arguments"
                if other is not None:
                    print(f"  {t['id']}/{name}: dropped ({type(other).__name__}: {other})", file=sys.stderr)
                    n_dropped += 1
                    continue
                check_direct(text, context, expected, error)
                case = {"name": name, "context": context}
                if error is None:
                    case["expected"] = expected
                else:
                    case["error"] = error
                cases.append(case)
            assert len(cases) >= 4, t["id"]
            n_cases += len(cases)
            out_templates.append({"id": t["id"], "file": f"templates/{t['id']}.jinja", "source": _source_note(t),
                                  "family": t["family"], "sha256": digest, "cases": cases})
    finally:
        ctu.datetime = real_datetime
    doc = {
        "versions": {**got, "llama-cpp-python sdist (template source)": f"{LLAMA_CPP_PYTHON} (llama.cpp "
                     f"{LLAMA_CPP_COMMIT})"},
        "now": NOW_UNIX,
        "notes": [
            "context = the keyword arguments transformers' render_jinja_template passes to Template.render "
            "(messages, tools, documents, add_generation_prompt, the tokenizer's special_tokens_map, extra kwargs); "
            "render with ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, loopcontrols), "
            "tojson = json.dumps(x, ensure_ascii=False, indent, separators, sort_keys), raise_exception, "
            "strftime_now, dict, namespace as in transformers.utils.chat_template_utils.",
            "strftime_now(fmt) formats 'now' (unix seconds) in UTC, C locale.",
            "error cases: rendering raises raise_exception(msg) and 'error' equals msg.",
            "messages with reasoning_content also carry 'thinking' (transformers' _alias_reasoning_fields).",
        ],
        "templates": out_templates,
    }
    path = os.path.join(OUT_DIR, "cases.json")
    write_json(path, doc)
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT_DIR) for f in fs)
    print(f"wrote {rel(path)}: {len(out_templates)} templates, {n_cases} cases ({n_dropped} dropped), "
          f"{size} bytes in {rel(OUT_DIR)}")
    assert size <= MAX_BYTES, size


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-cpp-sdist", help=f"llama_cpp_python-{LLAMA_CPP_PYTHON}.tar.gz (pip download "
                    f"--no-binary :all: --no-deps llama-cpp-python=={LLAMA_CPP_PYTHON}) to copy templates from")
    args = ap.parse_args()
    generate(args.llama_cpp_sdist)


if __name__ == "__main__":
    main()
