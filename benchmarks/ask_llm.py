"""ask_llm throughput: documents/s and prompt tokens/s per backend, against a plain forward pass.

Documents are the bundled sample (pipelines/sample/web-cc.parquet), truncated to the step's
token budget. For each backend the same documents and questions are scored; "prompt tokens" are
the full prompts (prefix + document + question) of every (document, question) pair, the work a
naive scorer would do. The limit is a plain `model(input_ids)` over exactly those prompts, batched
by the same padded-token budget, with no escaping, caching or softmax: efficiency = backend
tokens/s / plain-forward tokens/s (above 100% when the shared prefix cache saves work).

    python benchmarks/ask_llm.py                                   # tiny random model, CPU, short
    python benchmarks/ask_llm.py --model /models/Qwen2.5-1.5B-Instruct --device cuda --docs 2000
    python benchmarks/ask_llm.py --full                            # more documents and repeats

Backends measured: transformers (shared prefix on and off), openai (against a local server on
127.0.0.1 that runs the same model; measures the HTTP client's overhead), vllm when installed and
a GPU is present.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "tests" / "llm"))  # tiny model builder and the local OpenAI-format server

from thresher.llm.answers import ScoreOptions  # noqa: E402
from thresher.llm.backends.base import OpenAIParams, TransformersParams, VllmParams, load_backend  # noqa: E402
from thresher.llm.prompts import resolve_questions  # noqa: E402
from thresher.llm.truncation import Truncation  # noqa: E402


def sample_documents(count: int) -> list[str]:
    texts = [t for t in pq.read_table(REPO / "pipelines" / "sample" / "web-cc.parquet")["text"].to_pylist() if t]
    return [texts[i % len(texts)] + ("" if i < len(texts) else f"\n(copy {i // len(texts)})") for i in range(count)]


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def plain_forward(backend, docs: list[str]) -> tuple[callable, int]:
    """A bare forward pass over the backend's own prompts, batched under the same token budget."""
    import torch

    encoded = backend.prompts.encode_documents(docs)
    prompts = [backend.prompts.prompt_ids(q, d) for d in encoded for q in backend.prompts.questions]
    total = sum(len(p) for p in prompts)

    def run() -> None:
        with torch.inference_mode():
            for rows in backend._batches([len(p) for p in prompts], 0):
                ids, mask = backend._left_padded([prompts[i] for i in rows])
                if backend.encoder_decoder:
                    start = torch.zeros((ids.shape[0], 1), dtype=torch.long, device=ids.device)
                    backend.model(input_ids=ids, attention_mask=mask, decoder_input_ids=start)
                else:
                    backend._forward(input_ids=ids, attention_mask=mask)
        if backend.device.type == "cuda":
            torch.cuda.synchronize()

    return run, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="local model folder (default: a tiny random Llama built on the spot)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--questions", default="quality,educational")
    parser.add_argument("--max-tokens", type=int, default=256, help="document token budget")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--full", action="store_true", help="more documents and 3 repeats")
    parser.add_argument("--skip-openai", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    docs_count = args.docs or (400 if args.full else 48)
    repeats = 3 if args.full else 1
    tmp = tempfile.TemporaryDirectory(prefix="thresher-bench-")
    model = args.model
    if model is None:
        from tiny_models import build_causal

        model = str(build_causal(Path(tmp.name) / "tiny", layers=4, hidden=128))
    docs = sample_documents(docs_count)
    questions = resolve_questions(args.questions.split(","), {})
    truncation = Truncation(max_tokens=args.max_tokens)
    options = ScoreOptions()
    results: dict[str, dict] = {}
    print(f"model {model}, {len(docs)} documents, questions {args.questions}, device {args.device}")

    def report(name: str, seconds: float, tokens: int, note: str = "") -> None:
        results[name] = {"seconds": seconds, "docs_per_s": len(docs) / seconds, "tokens_per_s": tokens / seconds}
        print(
            f"  {name:<46} {len(docs) / seconds:9.1f} docs/s {tokens / seconds:11.0f} prompt tokens/s"
            f"  ({seconds:.2f} s){note}"
        )

    params = TransformersParams(model=model, device=args.device, threads=args.threads)
    shared = load_backend(params, questions, truncation, options)
    run_plain, prompt_tokens = plain_forward(shared, docs)
    timed(lambda: shared.score(docs[:4]), 1)  # warm-up (allocator, kernels)
    seconds, _ = timed(run_plain, repeats)
    report("plain forward (limit)", seconds, prompt_tokens)
    plain_rate = prompt_tokens / seconds
    for label, backend in (
        ("transformers, shared prefix", shared),
        (
            "transformers, no prefix sharing",
            load_backend(params.model_copy(update={"share_prefix": False}), questions, truncation, options),
        ),
    ):
        seconds, _ = timed(lambda b=backend: b.score(docs), repeats)
        report(label, seconds, prompt_tokens, f"  efficiency {prompt_tokens / seconds / plain_rate:.0%} of plain")
        results[label]["efficiency_vs_plain"] = prompt_tokens / seconds / plain_rate

    if not args.skip_openai and args.device == "cpu":
        from openai_server import LogprobServer

        with LogprobServer(model) as server:
            for api in ("chat", "completions"):
                client = load_backend(
                    OpenAIParams(base_url=server.base_url, model="local", api=api, api_key_env=None, concurrency=4),
                    questions,
                    truncation,
                    options,
                )
                seconds, _ = timed(lambda c=client: c.score(docs), repeats)
                report(f"openai {api} (local server, same model)", seconds, client.tokens_scored // repeats)
                client.close()

    try:
        import torch
        import vllm  # noqa: F401

        has_vllm = torch.cuda.is_available()
    except ImportError:
        has_vllm = False
    if has_vllm and args.model:
        shared.close()
        backend = load_backend(VllmParams(model=model), questions, truncation, options)
        timed(lambda: backend.score(docs[:8]), 1)
        seconds, _ = timed(lambda: backend.score(docs), repeats)
        report("vllm", seconds, prompt_tokens, f"  efficiency {prompt_tokens / seconds / plain_rate:.0%} of plain")
    else:
        print("  vllm: not measured (needs the vllm extra, a GPU and --model)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
