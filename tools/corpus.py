"""Text used by the tokenizer fixtures.

Two things live here:

* ``training_documents()``: the real text (about 3 MB) the fixture tokenizers are trained on. It is read from
  files every machine with the pinned Python has (the 3.11.7 standard library) plus two Debian packages for
  the multilingual part (vim-runtime's translated vimtutors, gnupg-l10n's translated help files). The list of
  files, their sizes and SHA-256 are written next to the fixtures so a drift is visible.
* ``test_strings()``: the hard strings every fixture tokenizer is checked on, built deterministically (Unicode
  code points are chosen with ``unicodedata``, i.e. Unicode 14.0.0 for Python 3.11).
"""

import glob
import os
import sys
import sysconfig
import unicodedata

from common import sha256_bytes

STDLIB = sysconfig.get_paths()["stdlib"]

# Budget for the Python stdlib modules part (whole files, sorted by name, until the budget is reached).
STDLIB_MODULES_BUDGET = 700_000


def _source_files():
    """(label, path, required) in a fixed order."""
    out = [("<stdlib>/pydoc_data/topics.py", os.path.join(STDLIB, "pydoc_data", "topics.py"), True),
           ("<stdlib>/LICENSE.txt", os.path.join(STDLIB, "LICENSE.txt"), True)]
    used = 0
    for p in sorted(glob.glob(os.path.join(STDLIB, "*.py"))):
        n = os.path.getsize(p)
        if used + n > STDLIB_MODULES_BUDGET:
            continue
        used += n
        out.append(("<stdlib>/" + os.path.basename(p), p, True))
    for p in sorted(glob.glob(os.path.join(STDLIB, "test", "cjkencodings", "*-utf8.txt"))):
        out.append(("<stdlib>/test/cjkencodings/" + os.path.basename(p), p, True))
    for p in sorted(glob.glob("/usr/share/vim/vim90/tutor/tutor*.utf-8")):
        out.append((p, p, False))
    for p in sorted(glob.glob("/usr/share/gnupg/help*.txt")):
        out.append((p, p, False))
    return out


def training_documents():
    """Returns (documents, manifest). Each document is one file's text."""
    docs, manifest = [], []
    for label, path, required in _source_files():
        if not os.path.exists(path):
            if required:
                raise FileNotFoundError(path)
            print(f"WARNING: training corpus file missing, tokenizers will differ: {path}", file=sys.stderr)
            continue
        data = open(path, "rb").read()
        docs.append(data.decode("utf-8"))
        manifest.append({"file": label, "bytes": len(data), "sha256": sha256_bytes(data)})
    return docs, manifest


# --------------------------------------------------------------------------------------------------------------
# Hard test strings

# Every general category but Cs (surrogates cannot be in a UTF-8 string).
CATEGORIES = ["Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe", "Pi",
              "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Cn"]

PICKS_PER_CATEGORY = 3


def _code_points_by_category():
    cats = {c: [] for c in CATEGORIES}
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        cat = unicodedata.category(chr(cp))
        if cat in cats:
            cats[cat].append(cp)
    return cats


def _pick(cat, cps):
    """PICKS_PER_CATEGORY code points of one category, spread over the category, deterministic."""
    if cat == "Cc":
        # U+0000 is left out on purpose (it is covered by an invalid_utf8 byte case, which the C side reads as
        # bytes + length); these are ESC, DEL and NEL (U+0085, which is White_Space but not Zs).
        return [0x1B, 0x7F, 0x85]
    if cat == "Cn":
        # Unassigned in Unicode 14 AND guaranteed to stay unassigned in the newer Unicode the Rust side may
        # know: noncharacters, and plane 4-13 code points (no plane 4-13 allocation is planned).
        return [0xFDD0, 0xFFFF, 0x5ABCD]
    if cat == "Zs":
        return [0x00A0, 0x2009, 0x3000]
    n = len(cps)
    picks = [cps[(i * n) // PICKS_PER_CATEGORY + (n // (2 * PICKS_PER_CATEGORY))] for i in range(PICKS_PER_CATEGORY)]
    return list(dict.fromkeys(picks))


def _category_strings():
    out = []
    cats = _code_points_by_category()
    for cat in CATEGORIES:
        for cp in _pick(cat, cats[cat]):
            c = chr(cp)
            out.append(c)                       # alone
            out.append(f"ab{c}cd")              # inside a word
            out.append(f"Hi {c} 42{c}x {c}{c}")  # with spaces, digits, doubled
    return out


def _extra_unicode():
    """Characters known to be hard for byte-level regex pre-tokenizers (White_Space vs Zs, format chars)."""
    out = []
    for cp in [0x0009, 0x000B, 0x000C, 0x001C, 0x00AD, 0x061C, 0x1680, 0x180E, 0x2000, 0x200A, 0x200B, 0x200C,
               0x200D, 0x200E, 0x2028, 0x2029, 0x202F, 0x205F, 0x2060, 0xFEFF, 0xFFFD, 0xE0001, 0xE0041, 0x1D7CE,
               0x10FFFD, 0xF0000, 0xE000, 0xF8FF]:
        c = chr(cp)
        out.append(f"x{c}y {c} z{c}")
    return out


EMOJI = [
    "😀", "👍🏽", "👋🏻 👋🏼 👋🏽 👋🏾 👋🏿", "👨‍👩‍👧‍👦", "👩🏽‍🚀", "🏳️‍🌈", "🏴‍☠️", "🇯🇵🇺🇸🇩🇪", "🇫🇷 flag",
    "❤️", "❤︎", "☺️☺︎", "1️⃣2️⃣#️⃣", "🧑🏿‍💻 is coding", "I ❤️ NY 🗽!", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "😀😃😄😁😆😅😂🤣",
    "emoji🙂inside", "🦄🦄🦄", "👨‍👨‍👦 👩‍❤️‍💋‍👨",
]

SCRIPTS = [
    "你好，世界！", "中文12345数字", "日本語のテキスト、カタカナ、ひらがな。", "ﾊﾝｶｸｶﾀｶﾅ", "東京都渋谷区 2024年",
    "한국어 텍스트 한글", "안녕하세요! 반갑습니다.", "한글 자모", "مرحبا بالعالم", "السلام عليكم ٣٤٥ ١٢",
    "שָׁלוֹם עוֹלָם", "עברית 123 mixed", "नमस्ते दुनिया", "क्षत्रिय हिन्दी ३४५", "कि की कु कू कृ कॄ कॅ कं कः",
    "สวัสดีชาวโลก", "ภาษาไทย ๑๒๓", "Привет, мир!", "Ελληνικά κείμενα", "Ünïcödé çàfé naïve résumé",
    "Straße ẞ ß", "İstanbul ıi", "ǅemal ǈubljana", "ﬁﬂ ligatures", "ＡＢＣ　ｆｕｌｌｗｉｄｔｈ　１２３",
    "e\u0301 vs \u00e9", "\u1100\u1161\u11a8", "ᐊᓂᔑᓈᐯᒧᐎᓐ", "ꯃꯤꯇꯩ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕄𝕒𝕥𝕙", "ⓐⓑⓒ ①②③",
]

ZALGO = [
    "Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "a" + "".join(chr(0x300 + i) for i in range(40)),
    "\u0301\u0302\u0303 leading marks",
    "x\u20dd\u20de enclosed",
]

WHITESPACE = (
    ["a" + " " * n + "b" for n in [1, 2, 3, 4, 5, 7, 8, 15, 16, 33]]
    + [" " * n for n in [1, 2, 3, 4, 17]]
    + ["\n" * n for n in [1, 2, 3, 5]]
    + ["\t" * n + "x" for n in [1, 2, 4]]
    + [
        "  leading", "trailing  ", "  both  ", " a", "a ", "\ta\t", "a\r\nb", "\r\n", "\r\n\r\n", "\r\r\n\n",
        "a\rb", " \n \n ", "\n \n", "line1\n  line2\n\tline3\n", "a \t \n b", "x\t \t y", "  \n\n  \n",
        "word\n\n\nword", "a\u00a0b", "a\u00a0\u00a0 b", "x\u3000y", " \u2003 ", "a\u2028b\u2029c",
        "end with newline\n", "\n\nstart with newlines", "spaces before newline   \nnext", "\u00a0\u00a0",
        " \u0085 ", "tab\tseparated\tvalues\t1\t2",
    ]
)

NUMBERS = [
    "0", "7", "42", "123", "1234", "12345678901234567890", "3.14159265358979", "1,000,000", "-42", "+7",
    "1e-10", "0x1F2E3D", "2024-05-09", "12:34:56", "v1.2.3", "$1,234.56", "50%", "٣", "٣٤٥٦", "३", "१२३४",
    "१२३४५६७", "٠١٢٣٤٥٦٧٨٩", "໑໒໓", "Ⅻ ⅻ", "½ ¾ ⅞", "x² + y³", "①②③", "12ab34cd", "abc123def456",
    "1st 2nd 3rd 4th", "007", "9999999999", "３４５", "𝟘𝟙𝟚",
]

CODE = [
    "#include <stdio.h>\n\nint main(void) {\n    printf(\"Hello, %s!\\n\", \"world\");\n    return 0;\n}\n",
    "static inline int32_t clamp(int32_t x, int32_t lo, int32_t hi) { return x < lo ? lo : (x > hi ? hi : x); }",
    "for (size_t i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}",
    "def fib(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    a, b = 0, 1\n    for _ in range(n):\n"
    "        a, b = b, a + b\n    return a\n",
    "class Foo(Bar):\n    def __init__(self, x: int = 3) -> None:\n        super().__init__()\n        self._x = x\n",
    "if x == 1:\n        pass\n    elif y != 2:\n\t\treturn {'a': [1, 2, 3]}\n",
    "x = [i**2 for i in range(10) if i % 2 == 0]  # squares",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "<div class=\"main\"><p>Hello&nbsp;world</p></div>",
    "{\"key\": \"value\", \"list\": [1, 2.5, null, true]}",
    "a->b && c || !d; x <<= 2; y >>= 3; z ^= ~w;",
    "fn main() { let v: Vec<u8> = vec![0; 16]; println!(\"{:?}\", v); }",
    "    ",
    "\t\tindented_with_tabs();",
    "/* comment */ // line comment\n# shell comment",
]

CONTRACTIONS = [
    "I'M here", "they'll", "don't", "DON'T", "Don'T", "We'Re", "we're", "WE'VE", "it's", "IT'S", "she'd", "SHE'D",
    "I'm", "i'M", "you'll", "YOU'LL", "y'all", "'s", "''s", "'ll've", "rock'n'roll", "O'Neil", "it'ſ", "'S'T'RE",
    "can’t (curly)", "it'ſt", "'ſſ", "WE'ſT", "'Sa'Tb", "'", "''", "'''", " 's", "x's y'd z'm",
]

URLS = [
    "https://example.com/path/to/page?q=1&r=two#frag",
    "http://user:pass@host.example.org:8080/a_b-c.d~e",
    "mailto:someone@example.com",
    "ftp://ftp.example.net/pub/file-1.2.3.tar.gz",
    "www.example.co.uk/index.html",
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    "/usr/local/lib/python3.11/site-packages/",
    "https://ja.wikipedia.org/wiki/日本語",
]

SPECIALS = [
    "<|im_start|>user\nhi<|im_end|>\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>", "<|endoftext|><|endoftext|>", "<|im_start|><|im_end|>", "<|im_start|><|im_start|>",
    "text<|endoftext|>text", "hello <|endoftext|> world", " <|endoftext|> ", "<<|im_start|>>", "<|<|im_end|>|>",
    "<|im_sta", "<|im_start", "<|im_start|", "|im_start|>", "<|endoftext", "<|", "|>", "<||>", "< |im_start| >",
    "<|begin_of_text|>Hello<|eot_id|>",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>assistant"
    "<|end_header_id|>\n\n",
    "<|end_of_text|> <|reserved_special_token_0|>", "<|reserved_special_token_00|>",
    "<custom_word>", "a <custom_word> b", "a<custom_word>b", "<custom_word><custom_word>", "<custom_wor",
    "<|mask|>", "a <|mask|> b", "a   <|mask|>b", "\n<|mask|>\n", "<|sep|>", "x<|sep|>   y", "x <|sep|>\n\ny",
    "<|mask|><|sep|>", "  <|mask|>  <|sep|>  ",
]

MISC = [
    "", "a", "Z", " ", "\n", "\t", ".", "<", "|", "é", "ß", "中", "😀", "\ufffd", "\u00ad", "'",
    "Hello, world!", "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX", "Mixed CASE and camelCase and snake_case and kebab-case",
    "...!!!???", "—–-", "«quotes» „German“ “curly” ‘single’", "a" * 200, "=" * 80, "ab" * 50, "😀" * 20,
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
    "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip.",
    "In 1969, 3 astronauts flew 384,400 km to the Moon; 2 of them walked on it for 21.5 hours.",
]


def _mixed(seed, count, length):
    """Pseudo-random mixtures of everything above (a tiny LCG, so no dependency on random's algorithm)."""
    pool = []
    for group in (EMOJI, SCRIPTS, ZALGO, NUMBERS, CONTRACTIONS, MISC[:16]):
        for s in group:
            pool.extend(list(s))
    pool.extend([" ", " ", " ", "\n", "  ", "\t", "'s", "<|im_end|>", "123"])
    state = seed
    out = []
    for _ in range(count):
        parts = []
        for _ in range(length):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            parts.append(pool[(state >> 33) % len(pool)])
        out.append("".join(parts))
    return out


def test_strings():
    """The tokenizer test corpus: a fixed, deterministic list of strings (no U+0000, no surrogates)."""
    out = (MISC + WHITESPACE + NUMBERS + CONTRACTIONS + CODE + URLS + SPECIALS + EMOJI + SCRIPTS + ZALGO
           + _extra_unicode() + _category_strings() + _mixed(20240509, 12, 40))
    out = list(dict.fromkeys(out))  # drop duplicates, keep the first occurrence
    for s in out:
        assert "\x00" not in s and not any(0xD800 <= ord(c) <= 0xDFFF for c in s)
    return out


# Byte strings that are NOT valid UTF-8. The C side defines invalid input as Python's errors='replace' does it:
# each maximal invalid subsequence (maximal subpart of an ill-formed sequence) becomes one U+FFFD.
INVALID_UTF8 = [
    b"\x80", b"\xbf", b"\xc3", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xf0\x9f\x98", b"\xf0\x9f", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xfe",
    b"\xff", b"\xff\xfe", b"abc\xffdef", b"Hello \xe2\x82 world", b"\xe2\x82\xac\xe2\x82", b"caf\xe9",
    b"\xc3\xa9\xc3", b"a\x00b\xff", b"\x80\x80\x80\x80", b"\xf0\x9f\x98\x80\xf0\x9f\x98", b"\xe6\x97\xa5\xe6",
    b"<|im_start|>\xffuser<|im_end|>", b"  \xa0 ", b"\xf0\x80\x80\x80", b"\xe0\xa0", b"\xf1\x80\x80\xc3\xa9",
    b"\xc2\x41", b"\xe1\x80\x41", b"\xf0\x90\x41", b"123\xff456",
]
