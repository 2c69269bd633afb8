"""Decontamination and line dedup on real web text, against datatrove's n-gram filter.

    python benchmarks/decontamination.py            # about a minute on one core
    python benchmarks/decontamination.py --full     # every insertion type x 300, datatrove on all pages

Data (../shared/data, or THRESHER_SHARED_DATA):
  eval set   10,000 items: the 8,792 GSM8K rows of skills.parquet, 1,000 SVAMP, 208 CRUXEval
  web text   web_html_boilerplate raw_text (2,250 pages, navigation and cookie lines included) and
             cc_misc_samples text (825 Common Crawl documents)
  insertions GSM8K test items pasted into randomly chosen pages at a line boundary: whole
             (question + worked answer), question only, and lightly paraphrased (a few words
             swapped for synonyms, numbers re-spaced, sentences re-cased); each page gets at most one

Printed: recall per insertion type and false positives on the untouched pages, for n = 13
(default) and n = 8 (Llama 3), then documents/s and MB/s per core of the decontaminate step
(rayon limited to one thread) with datatrove's NGramsDecontFilter (n = 13, same items) measured in
the same run, then line_dedup's most frequent removed lines on the web text and how many content
lines (those of the page's human gold main content) it removed.
"""

from __future__ import annotations

import os

os.environ["RAYON_NUM_THREADS"] = "1"  # per-core figures; must be set before the Rust pool starts

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from thresher import _core  # noqa: E402
from thresher.steps.decontaminate import Decontaminate, DecontaminateParams  # noqa: E402

SYNONYMS = {
    "sold": "sells",
    "buys": "purchases",
    "bought": "purchased",
    "many": "much",
    "friends": "pals",
    "each": "every",
    "total": "overall",
    "has": "owns",
    "needs": "requires",
    "spends": "uses",
    "makes": "produces",
    "altogether": "in all",
    "store": "shop",
    "money": "cash",
    "wants": "would like",
    "gets": "receives",
    "how": "what",
    "then": "after that",
    "she": "the girl",
    "he": "the boy",
}


def shared_data() -> Path:
    root = os.environ.get("THRESHER_SHARED_DATA")
    path = Path(root) if root else Path(__file__).resolve().parents[1].parent / "shared" / "data"
    if not (path / "skills" / "skills.parquet").exists():
        sys.exit(f"shared data not found at {path}; set THRESHER_SHARED_DATA")
    return path


def paraphrase(text: str, rng: random.Random) -> str:
    """A light paraphrase: some words swapped for synonyms, operators re-spaced, case changed."""
    out = []
    for word in text.split(" "):
        bare = word.strip(".,?!").lower()
        if bare in SYNONYMS and rng.random() < 0.7:
            word = word.lower().replace(bare, SYNONYMS[bare])
        out.append(word)
    text = " ".join(out)
    text = re.sub(r"(\d)([+\-*/=x])(\d)", r"\1 \2 \3", text)
    return text.replace("Question: ", "Q: ").replace("Answer: ", "Solution:\n")


def load(data: Path, per_kind: int, seed: int):
    skills = pq.read_table(data / "skills" / "skills.parquet")
    source = skills.column("source")
    gsm = skills.filter(pc.starts_with(source, "openai/grade-school-math"))
    svamp = skills.filter(pc.starts_with(source, "arkilpatel/SVAMP"))
    crux = skills.filter(pc.starts_with(source, "facebookresearch/cruxeval")).slice(0, 10_000 - gsm.num_rows - 1000)
    eval_items = pa.concat_tables([t.select(["id", "text"]) for t in (gsm, svamp, crux)])

    web = pq.read_table(data / "web_html_boilerplate" / "web_html_boilerplate.parquet")
    cc = pq.read_table(data / "cc_misc_samples" / "cc_misc_samples.parquet")
    pages = [
        ("web", r["id"], r["raw_text"], r["gold_text"]) for r in web.select(["id", "raw_text", "gold_text"]).to_pylist()
    ]
    pages += [("cc", r["id"], r["text"], None) for r in cc.select(["id", "text"]).to_pylist()]
    pages = [p for p in pages if p[2] and p[2].strip()]

    rng = random.Random(seed)
    test_rows = [r for r in gsm.to_pylist() if json.loads(r["meta"])["split"] == "test"]
    chosen = rng.sample(test_rows, 3 * per_kind)
    hosts = rng.sample(range(len(pages)), 3 * per_kind)
    inserted: dict[int, tuple[str, str]] = {}  # page index -> (kind, item id)
    texts = [p[2] for p in pages]
    for k, (row, host) in enumerate(zip(chosen, hosts, strict=True)):
        kind = ("whole", "question", "paraphrased")[k // per_kind]
        if kind == "whole":
            snippet = row["text"]
        elif kind == "question":
            snippet = json.loads(row["meta"])["question"]
        else:
            snippet = paraphrase(row["text"], rng)
        lines = texts[host].split("\n")
        at = rng.randrange(len(lines) + 1)
        texts[host] = "\n".join(lines[:at] + [snippet] + lines[at:])
        inserted[host] = (kind, row["id"])
    corpus = pa.table({"id": [p[1] for p in pages], "text": texts})
    return eval_items, corpus, inserted, pages


def median_seconds(fn, repeats: int) -> tuple[float, float]:
    """Median CPU seconds of this process (all threads; one rayon thread) and median wall seconds.

    CPU time is the per-core figure: on a shared machine wall time also counts other processes."""
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def thresher_step(eval_path: Path, index_dir: Path, n: int) -> Decontaminate:
    params = DecontaminateParams(
        eval_sets=[{"name": "math-code", "paths": [str(eval_path)], "text_columns": ["text"]}],
        n=n,
        index_dir=str(index_dir),
    )
    return Decontaminate("decontaminate", params)


def run_step(step: Decontaminate, corpus: pa.Table) -> list[bool]:
    flags: list[bool] = []
    for batch in corpus.to_batches(max_chunksize=2048):
        signals = step.compute_signals(batch.column("text"), batch)
        decision = step.decide(signals, batch)
        flags += pc.invert(decision.keep).to_pylist()
    return flags


def recall_table(flags: list[bool], inserted: dict[int, tuple[str, str]]) -> tuple[dict[str, str], int, list[int]]:
    out = {}
    for kind in ("whole", "question", "paraphrased"):
        hosts = [h for h, (k, _) in inserted.items() if k == kind]
        found = sum(flags[h] for h in hosts)
        out[kind] = f"{found}/{len(hosts)}"
    false_hits = [i for i, f in enumerate(flags) if f and i not in inserted]
    return out, len(false_hits), false_hits


def datatrove_peer(eval_items: pa.Table, corpus: pa.Table, inserted, limit: int | None):
    """datatrove's NGramsDecontFilter with an index of the same items (n = 13, label n-grams only)."""
    try:
        import numpy as np
        from datatrove.data import Document
        from datatrove.pipeline.decont.n_grams import NGramsDecontConfig, NGramsDecontFilter
        from datatrove.utils.hashing import create_hash_func
        from datatrove.utils.text import ngrams, simplify_text
        from datatrove.utils.word_tokenizers import load_word_tokenizer
    except ImportError as err:
        return {"error": f"datatrove not installed ({err}); pip install 'datatrove[processing]==0.10.1'"}
    config = NGramsDecontConfig(n_grams=13, find_query_ngrams=True, find_overlap_ngrams=False)
    tokenizer = load_word_tokenizer("en")
    hash_func = create_hash_func(config.hash_config)
    started = time.perf_counter()
    hashes = set()
    for text in eval_items.column("text").to_pylist():
        tokens = tokenizer.word_tokenize(simplify_text(text, config.norm_config))
        hashes.update(hash_func(" ".join(g)) for g in ngrams(tokens, config.n_grams))
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(Path(tmp, "math.index.hashes"))
        filt = NGramsDecontFilter(index_folder=tmp, config=config)
        filt.load_index_hashes()
        rows = list(range(corpus.num_rows)) if limit is None else sorted(set(range(limit)) | set(inserted))
        texts = corpus.column("text").to_pylist()
        docs = [Document(text=texts[i], id=str(i)) for i in rows]
        flags_sub = []
        started = time.process_time()
        for doc in docs:
            result = filt.filter(doc)
            flags_sub.append(result is not True)
        seconds = time.process_time() - started
    flags = [False] * corpus.num_rows
    for i, f in zip(rows, flags_sub, strict=True):
        flags[i] = f
    nbytes = sum(len(texts[i].encode()) for i in rows)
    recall, fp, _ = recall_table(flags, {h: v for h, v in inserted.items() if h in set(rows)})
    return {
        "docs": len(rows),
        "docs_per_s": len(rows) / seconds,
        "mb_per_s": nbytes / seconds / 1e6,
        "recall": recall,
        "false_positives": fp,
        "build_s": build_s,
        "index_ngrams": len(hashes),
    }


def line_dedup_section(pages) -> None:
    web_pages = [p for p in pages if p[0] == "web"]
    table = pa.table({"id": [p[1] for p in web_pages], "text": [p[2] for p in web_pages]})
    steps = [{"type": "line_dedup", "max_count": 6, "min_remaining_chars": 300, "partitions": 4, "top_lines": 25}]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # Through the stages (map per shard, count per partition, collect, apply) as a run would.
        shard = Path(tmp, "web.parquet")
        pq.write_table(table, shard)
        doc = {"input": {"paths": [str(shard)]}, "steps": steps, "output": {"path": str(Path(tmp, "out"))}}
        Path(tmp, "p.yaml").write_text(json.dumps(doc))
        from thresher.config import load_pipeline
        from thresher.executors.local import LocalExecutor
        from thresher.stages import Plan

        summary = LocalExecutor(workers=1, quiet=True).run(Plan.create(load_pipeline(Path(tmp, "p.yaml"))))
        assert summary.ok, summary.errors
        seconds = time.perf_counter() - started
        report = json.loads(Path(tmp, "out/_thresher/work/steps/line_dedup/report/report.json").read_text())
        import numpy as np

        remove = set(np.load(Path(tmp, "out/_thresher/work/steps/line_dedup/remove.npy")).tolist())
    print(f"\n== line_dedup on web_html_boilerplate raw_text ({table.num_rows:,} pages, {seconds:.1f}s all stages)")
    print(
        f"threshold: lines in more than {report['threshold']:g} documents; {report['removed_distinct_lines']:,} "
        f"distinct lines removed of {report['distinct_lines']:,} ({report['lines_in_one_document']:,} in one page only)"
    )
    print(
        f"removed {report['removed_lines']:,} of {report['lines']:,} lines from {report['documents_changed']:,} pages; "
        f"{report['documents_dropped']:,} pages left under 300 chars dropped"
    )
    print("top removed lines (documents containing them):")
    for top in report["top_lines"][:25]:
        print(f"  {top['documents']:>5}  {(top['line'] or '')[:90]}")
    # Content lines: lines of the page's gold main content. How many did line_dedup remove?
    gold_lines, gold_removed, once_lines, once_removed = 0, 0, 0, 0
    removed_gold: dict[str, int] = {}
    all_hashes: dict[int, int] = {}
    for p in web_pages:
        for h in set(_core.line_hash(pa.array(p[2].split("\n"), pa.string())).to_pylist()) - {None}:
            all_hashes[h] = all_hashes.get(h, 0) + 1
    for p in web_pages:
        if not p[3]:
            continue
        gold = {line.strip() for line in p[3].split("\n") if line.strip()}
        raw = [line for line in p[2].split("\n") if line.strip() in gold]
        hashes = _core.line_hash(pa.array(raw, pa.string())).to_pylist()
        for line, h in zip(raw, hashes, strict=True):
            if h is None:
                continue
            gold_lines += 1
            if h in remove:
                gold_removed += 1
                removed_gold[line.strip()] = all_hashes.get(h, 0)
            if all_hashes.get(h) == 1:
                once_lines += 1
                once_removed += h in remove
    print(
        f"content lines (in the page's gold main content): {gold_removed:,} of {gold_lines:,} removed "
        f"({100 * gold_removed / max(gold_lines, 1):.2f}%); content lines found in one page only: "
        f"{once_removed} of {once_lines:,} removed"
    )
    print("most frequent removed lines that annotators marked as main content:")
    for line, count in sorted(removed_gold.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {count:>5}  {line[:90]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="300 insertions per kind, datatrove on every page")
    parser.add_argument("--per-kind", type=int, help="insertions per kind (default 100, 300 with --full)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="skip datatrove")
    args = parser.parse_args()
    per_kind = args.per_kind or (300 if args.full else 100)
    data = shared_data()
    eval_items, corpus, inserted, pages = load(data, per_kind, args.seed)
    text_bytes = sum(len(t.encode()) for t in corpus.column("text").to_pylist())
    print(
        f"eval items indexed: {eval_items.num_rows:,}; corpus: {corpus.num_rows:,} pages, {text_bytes / 1e6:.1f} MB, "
        f"{len(inserted)} with a pasted GSM8K test item ({per_kind} per kind)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        eval_path = Path(tmp, "eval.parquet")
        pq.write_table(eval_items, eval_path)
        results = {}
        for n in (13, 8):
            step = thresher_step(eval_path, Path(tmp, "index"), n)
            started = time.perf_counter()
            step._load(Path(tmp, "index"))
            build_s = time.perf_counter() - started
            flags = run_step(step, corpus)
            recall, fp, false_hits = recall_table(flags, inserted)
            results[n] = (step, recall, fp, false_hits, build_s)
        print("\n== recall and false positives (drop when >= 1 shared n-gram with an item)")
        print(f"{'':<24}{'whole':>10}{'question':>10}{'paraphr.':>10}{'false pos.':>12}")
        for n, (step, recall, fp, false_hits, build_s) in results.items():
            print(
                f"thresher n={n:<13}{recall['whole']:>10}{recall['question']:>10}{recall['paraphrased']:>10}"
                f"{fp:>12}   (index: {step._index.num_keys:,} n-grams, {step._index.file_bytes / 1e6:.1f} MB, "
                f"built in {build_s:.2f}s)"
            )
            for i in false_hits[:5]:
                row = step.compute_signals(corpus.column("text").slice(i, 1), corpus.slice(i, 1).to_batches()[0])
                print(f"    false hit: page {corpus.column('id')[i]} items {row.column('matched_items')[0]}")

        step = results[13][0]
        batches = corpus.to_batches(max_chunksize=2048)
        scan_s, scan_wall = median_seconds(lambda: [step._index.scan(b.column("text")) for b in batches], args.repeats)
        step_s, step_wall = median_seconds(lambda: run_step(step, corpus), args.repeats)
        print(
            f"\n== throughput per core (RAYON_NUM_THREADS=1, CPU time, median of {args.repeats}), n=13, "
            f"{eval_items.num_rows:,} items indexed"
        )
        for label, cpu, wall in (("Rust scan", scan_s, scan_wall), ("decontaminate step", step_s, step_wall)):
            print(
                f"thresher {label:<20}{corpus.num_rows / cpu:>9,.0f} docs/s {text_bytes / cpu / 1e6:>8.1f} MB/s"
                f"   (wall {text_bytes / wall / 1e6:.1f} MB/s)"
            )
        if not args.no_peer:
            peer = datatrove_peer(eval_items, corpus, inserted, None if args.full else 400)
            if "error" in peer:
                print(f"datatrove: {peer['error']}")
            else:
                print(
                    f"datatrove NGramsDecontFilter {peer['docs_per_s']:>4,.0f} docs/s {peer['mb_per_s']:>8.2f} MB/s "
                    f"(on {peer['docs']:,} pages; index of {peer['index_ngrams']:,} n-grams in {peer['build_s']:.1f}s)"
                )
                print(
                    f"ratio thresher step / datatrove: {text_bytes / step_s / 1e6 / peer['mb_per_s']:.0f}x; "
                    f"datatrove recall whole {peer['recall']['whole']}, question {peer['recall']['question']}, "
                    f"paraphrased {peer['recall']['paraphrased']}, false positives {peer['false_positives']}"
                )
    line_dedup_section(pages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
