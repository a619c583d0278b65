// Loads the tokenizer of a HuggingFace model folder with transformers.js, offline, and prints the
// token ids (and the decoded text) of each text in a JSON array of strings:
//
//   node tools/js/tokenize.mjs path/to/model-folder texts.json > ids.json
//
// The test suite runs it on folders jgpt writes (HfFolderTest) and compares with jgpt's own ids.
import fs from 'node:fs';
import path from 'node:path';
import { AutoTokenizer, env } from '@huggingface/transformers';

const [folder, textsFile] = process.argv.slice(2);
if (!folder || !textsFile) {
  console.error('usage: node tokenize.mjs MODEL_FOLDER TEXTS_JSON');
  process.exit(2);
}
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = path.dirname(path.resolve(folder)) + path.sep;
const tokenizer = await AutoTokenizer.from_pretrained(path.basename(path.resolve(folder)), { local_files_only: true });
const texts = JSON.parse(fs.readFileSync(textsFile, 'utf8'));
const out = texts.map((text) => {
  const ids = tokenizer.encode(text);
  // decode() refuses an empty list; no ids stand for the empty text
  return { ids, decoded: ids.length ? tokenizer.decode(ids) : '' };
});
process.stdout.write(JSON.stringify(out));
