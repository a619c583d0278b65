#!/usr/bin/env python3
"""Load on a running `jgpt serve`: S streams at once, each sending requests back to back, for each S
given (default 1, 4 and 8, one after the other in one run, so the levels share the machine's state).

    ./jgpt serve --model runs/NAME &
    python3 tools/bench/serve_load.py --url http://127.0.0.1:8080

Every request asks for --max-tokens new tokens (greedy, past <|endoftext|>: "ignore_eos") after a
prompt of about --prompt-words words, different for every request. Per level it prints the total
new tokens per second (all streams together), that as a multiple of one stream's, and the p50 and
p95 of the requests' latency (from sending the request to its last byte). Python's standard
library only.
"""
import argparse
import json
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request


def complete(url, prompt, max_tokens):
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True}).encode()
    req = urllib.request.Request(url + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    with urllib.request.urlopen(req, timeout=3600) as r:
        reply = json.loads(r.read())
    return time.perf_counter() - t0, reply["usage"]["completion_tokens"]


def level(url, streams, requests, prompt_words, max_tokens):
    latencies, tokens, errors = [], [0], []
    lock = threading.Lock()

    def stream(s):
        for i in range(requests):
            prompt = f"Stream {s} request {i}: " + " ".join(["the quick brown fox"] * (prompt_words // 4))
            try:
                seconds, n = complete(url, prompt, max_tokens)
            except (urllib.error.URLError, OSError) as e:
                with lock:
                    errors.append(str(e))
                return
            with lock:
                latencies.append(seconds)
                tokens[0] += n

    threads = [threading.Thread(target=stream, args=(s,)) for s in range(streams)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        sys.exit(f"serve_load: {len(errors)} request(s) failed at {streams} streams: {errors[0]}")
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return {"streams": streams, "requests": len(latencies), "tokens": tokens[0], "seconds": wall,
            "tokens_per_s": tokens[0] / wall, "p50_s": statistics.median(latencies), "p95_s": p95}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="the server (default: %(default)s)")
    ap.add_argument("--streams", default="1,4,8", help="concurrency levels, run in this order (default: %(default)s)")
    ap.add_argument("--requests", type=int, default=3, help="requests per stream (default: %(default)s)")
    ap.add_argument("--prompt-words", type=int, default=12, help="prompt length in words, about (default: %(default)s)")
    ap.add_argument("--max-tokens", type=int, default=64, help="new tokens per request (default: %(default)s)")
    ap.add_argument("--json", action="store_true", help="one JSON object per level instead of the table")
    a = ap.parse_args()
    url = a.url.rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3]
    try:
        complete(url, "Warm up", 8)  # the JIT compiles the decode path on the first request
    except (urllib.error.URLError, OSError) as e:
        sys.exit(f"serve_load: {url}: {e}")
    results = []
    for s in [int(x) for x in a.streams.split(",")]:
        r = level(url, s, a.requests, a.prompt_words, a.max_tokens)
        results.append(r)
        if a.json:
            print(json.dumps(r), flush=True)
    if not a.json:
        one = results[0]["tokens_per_s"]
        print(f"| streams | requests | new tokens | tokens/s (all streams) | vs {results[0]['streams']} stream(s) | p50 latency | p95 latency |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['streams']} | {r['requests']} | {r['tokens']} | {r['tokens_per_s']:.1f} | {r['tokens_per_s'] / one:.2f}x "
                  f"| {r['p50_s']:.2f} s | {r['p95_s']:.2f} s |")


if __name__ == "__main__":
    main()
