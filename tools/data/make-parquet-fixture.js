// Makes the parquet fixtures in src/test/resources/data/: small files laid out like FineWeb-Edu's
// (a string "text" column beside id, url, token_count, score), written by the Rust Apache Arrow
// parquet writer (npm parquet-wasm) rather than by the Java reader under test.
//
//   mkdir -p /tmp/pq && cd /tmp/pq && npm install parquet-wasm@0.8.0 apache-arrow@21
//   NODE_PATH=/tmp/pq/node_modules node tools/data/make-parquet-fixture.js src/test/resources/data
//
// docs-snappy.parquet: 40 rows in row groups of 16, snappy pages, dictionary on; row 7's text is null.
// docs-zstd.parquet:   the same rows, zstd pages, dictionary off, one row group.
// The expected texts are in docs.jsonl beside them (null rows left out).
const fs = require('fs');
const path = require('path');
const arrow = require('apache-arrow');
const pq = require('parquet-wasm');

const out = process.argv[2] || '.';
const words = ['the', 'Java', 'virtual', 'machine', 'caf\u00e9', '\u4e2d\u6587', '\ud83d\ude00', 'learns', 'tokens', '\u05e9\u05dc\u05d5\u05dd'];
const texts = [], ids = [], urls = [], counts = [], scores = [];
for (let i = 0; i < 40; i++) {
  let t = `Document ${i}:`;
  for (let j = 0; j < 5 + (i * 7) % 23; j++) t += ' ' + words[(i * 31 + j * 17) % words.length];
  if (i % 5 === 0) t += '\n\nSecond paragraph with   spaces\tand tabs.';
  if (i === 3) t = '';
  texts.push(i === 7 ? null : t);
  ids.push(`<urn:uuid:${String(i).padStart(8, '0')}-0000-0000-0000-000000000000>`);
  urls.push(`https://example.org/page/${i}`);
  counts.push(BigInt(t.length));
  scores.push(2.5 + (i % 7) * 0.25);
}
const table = arrow.tableFromArrays({
  text: arrow.vectorFromArray(texts, new arrow.Utf8()),
  id: arrow.vectorFromArray(ids, new arrow.Utf8()),
  url: arrow.vectorFromArray(urls, new arrow.Utf8()),
  token_count: arrow.vectorFromArray(counts, new arrow.Int64()),
  score: arrow.vectorFromArray(scores, new arrow.Float64()),
});
function write(name, props) {
  // writeParquet consumes the table it is given, so each file gets its own copy.
  const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  fs.writeFileSync(path.join(out, name), pq.writeParquet(wasmTable, props));
}
write('docs-snappy.parquet', new pq.WriterPropertiesBuilder()
  .setCompression(pq.Compression.SNAPPY).setMaxRowGroupSize(16).setDictionaryEnabled(true).build());
write('docs-zstd.parquet', new pq.WriterPropertiesBuilder()
  .setCompression(pq.Compression.ZSTD).setDictionaryEnabled(false).build());
fs.writeFileSync(path.join(out, 'docs.jsonl'),
  texts.filter(t => t !== null).map(t => JSON.stringify({ text: t })).join('\n') + '\n');
