"""Builds pipelines/phi-style/labelled.jsonl.gz, the small labelled set the phi-style pipeline
trains its quality and skill classifiers on, from permissively licensed rows of ../shared/data
that are not in the bundled sample (so the pipeline never scores its own training rows).

    python scripts/make_phi_labels.py ../shared/data

Columns: id, text, skill (knowledge | reasoning | code | other), quality (1 good, 0 poor),
source, license. Texts are cut at 4,000 characters to keep the file small.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent
MAX_CHARS = 4000


def bundled_ids() -> set[str]:
    sample = REPO / "pipelines" / "sample"
    ids = set(pq.read_table(sample / "web-cc.parquet", columns=["id"]).column("id").to_pylist())
    with gzip.open(sample / "skills.jsonl.gz", "rt", encoding="utf-8") as f:
        ids |= {json.loads(line)["id"] for line in f}
    return ids


def pick(rows: list[dict], n: int, rng: np.random.Generator) -> list[dict]:
    order = rng.permutation(len(rows))[:n]
    return [rows[i] for i in sorted(order)]


def main(data: Path) -> None:
    rng = np.random.default_rng(7)
    skip = bundled_ids()
    skills = [r for r in pq.read_table(data / "skills" / "skills.parquet").to_pylist() if r["id"] not in skip]
    dclm = [r for r in pq.read_table(data / "dclm_human_quality" / "dclm_human_quality.parquet").to_pylist()]
    dclm_license = "CC-BY-4.0 (DCLM pool text) / MIT (mlfoundations/dclm)"

    def of(source_prefix: str) -> list[dict]:
        return [r for r in skills if r["source"].startswith(source_prefix)]

    out = []
    for r in pick(of("openai/grade-school-math"), 100, rng):
        out.append((r, "reasoning", 1))
    for r in pick(of("openai/human-eval"), 60, rng) + pick(of("facebookresearch/cruxeval"), 40, rng):
        out.append((r, "code", 1))
    for r in pick(of("openstax/osbooks-introduction-python-programming"), 100, rng):
        out.append((r, "knowledge", 1))
    good = [dict(r, source="mlfoundations/dclm (human label 1)", license=dclm_license) for r in dclm if r["label"] == 1]
    poor = [dict(r, source="mlfoundations/dclm (human label 0)", license=dclm_license) for r in dclm if r["label"] == 0]
    for r in pick(good, 80, rng):
        out.append((r, "knowledge", 1))
    for r in pick(poor, 120, rng):
        out.append((r, "other", 0))
    target = REPO / "pipelines" / "phi-style" / "labelled.jsonl.gz"
    with gzip.open(target, "wt", encoding="utf-8", compresslevel=9) as f:
        for r, skill, quality in out:
            row = {
                "id": r["id"],
                "text": r["text"][:MAX_CHARS],
                "skill": skill,
                "quality": quality,
                "source": r["source"],
                "license": r["license"],
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for _, skill, _ in out:
        counts[skill] = counts.get(skill, 0) + 1
    print(f"wrote {len(out)} rows to {target}: {counts}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else REPO.parent / "shared" / "data"))
