/**
 * From text to batches: corpus readers, the {@code prepare} pipeline, token shard formats and the dataset
 * the training loop draws from.
 *
 * <pre>
 *  Corpus ──documents──▶ Prepare (EOT + Gpt2Tokenizer, all cores) ──▶ ShardWriter ──▶ *_val_000000.bin
 *  (txt, jsonl, parquet,                                                              *_train_000001.bin ...
 *   src.zip, downloads)                                                               prepare.json
 *
 *  shards ──▶ TokenShard (mmap or decoded) ──▶ TokenDataset.nextBatch(inputs, targets)
 * </pre>
 *
 * Entry points for other packages: {@link dev.jgpt.data.Prepare#run}, {@link dev.jgpt.data.Prepare#ensureShards},
 * {@link dev.jgpt.data.TokenDataset}, {@link dev.jgpt.data.TokenShard#open}.
 *
 * <p>Libraries: HDF5 through jhdf (pure Java, writes chunked datasets, reads h5py's gzip/shuffle
 * chunks; no native HDF5 to install). Parquet through Hardwood (a from-the-spec reader with no Hadoop
 * or parquet-java underneath; snappy-java and zstd-jni supply the codecs).
 */
package dev.jgpt.data;
