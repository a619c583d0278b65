/**
 * GPT-2's byte-level BPE tokenizer (OpenAI's r50k_base): {@link dev.jgpt.tokenizer.Gpt2Tokenizer} to encode
 * and decode, {@link dev.jgpt.tokenizer.StreamDecoder} to print generated tokens as they come. jtokkit does
 * the merges; a hand-written pre-tokenizer and a per-thread cache of piece ids make encoding a corpus fast.
 */
package dev.jgpt.tokenizer;
