"""`filter train-classifier` and `filter annotate`: argument parsing and the commands themselves."""

from __future__ import annotations

import argparse
import json


def add_train_parser(sub) -> None:
    p = sub.add_parser(
        "train-classifier",
        help="train a fastText or embedding-head classifier on a labelled sample",
        description="Train on a labelled sample and save the next version of the model with its held-out "
        "metrics and the config that made it. Flags override the config file's keys.",
    )
    p.add_argument("config", nargs="?", help="training config YAML (optional when flags say enough)")
    p.add_argument("--name", help="model name (folder under --output)")
    p.add_argument("--kind", choices=["fasttext", "embedding"])
    p.add_argument("--input", "-i", nargs="+", metavar="PATH", help="labelled Parquet/JSONL files")
    p.add_argument("--text-column")
    p.add_argument("--label-column")
    p.add_argument("--task", choices=["binary", "multiclass", "multilabel", "regression"])
    p.add_argument("--positive", nargs="+", metavar="VALUE", help="binary: label values that are positive")
    p.add_argument("--threshold", type=float, help="binary: numeric labels >= this are positive")
    p.add_argument("--folds", type=int, help="also report k-fold cross-validated metrics")
    p.add_argument("--output", "-o", help="directory of models (default: models)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE", help="override any key"
    )


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from thresher.classify.config import load_train_config
    from thresher.classify.train import summarize, train

    overrides = list(args.overrides)
    flag_keys = {
        "name": args.name,
        "kind": args.kind,
        "data.text_column": args.text_column,
        "label.column": args.label_column,
        "label.task": args.task,
        "label.threshold": args.threshold,
        "split.folds": args.folds,
        "output": args.output,
    }
    flags = [f"{k}={json.dumps(v)}" for k, v in flag_keys.items() if v is not None]
    if args.input:
        flags.append(f"data.paths={json.dumps(args.input)}")
    if args.positive:
        flags.append(f"label.positive={json.dumps(args.positive)}")
    config = load_train_config(args.config, flags + overrides)
    result = train(config)
    print(f"saved {result.version_dir}")
    print(summarize(result.metrics))
    return 0


def add_annotate_parser(sub) -> None:
    p = sub.add_parser(
        "annotate",
        help="draw a stratified sample of a pipeline's input and label it with the pipeline's scoring step",
        description="Draws a seeded sample, stratified by the given columns (language, source), from the "
        "documents that pass the pipeline's per-batch steps before the scoring step, scores it with that "
        "step (ask_llm by default) and writes the labelled sample as Parquet.",
    )
    p.add_argument("pipeline", help="pipeline YAML file")
    p.add_argument("--output", "-o", required=True, help="labelled sample file (.parquet)")
    p.add_argument("--size", type=int, default=1000, help="documents in the sample (default 1000)")
    p.add_argument(
        "--strata", nargs="*", default=None, help="columns to stratify by (default: lang and source when present)"
    )
    p.add_argument(
        "--allocation",
        choices=["balanced", "proportional"],
        default="balanced",
        help="balanced: equal share per stratum, small strata taken whole; proportional: by stratum size",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step", help="name of the scoring step (default: the first ask_llm step)")
    p.add_argument("--no-prefilter", action="store_true", help="sample from the raw input")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a pipeline key"
    )


def cmd_annotate(args: argparse.Namespace) -> int:
    from thresher.classify.annotate import AnnotateOptions, annotate
    from thresher.config import load_pipeline

    config = load_pipeline(args.pipeline, overrides=args.overrides)
    options = AnnotateOptions(
        size=args.size,
        strata=args.strata,
        allocation=args.allocation,
        seed=args.seed,
        step=args.step,
        prefilter=not args.no_prefilter,
    )
    summary = annotate(config, args.output, options)
    print(f"wrote {summary['rows']} labelled documents to {args.output} (scores: {', '.join(summary['columns'])})")
    for stratum, n in summary["strata"].items():
        print(f"  {stratum}: {n['sampled']} of {n['available']}")
    return 0


def run(args: argparse.Namespace) -> int:
    return cmd_train_classifier(args) if args.command == "train-classifier" else cmd_annotate(args)
