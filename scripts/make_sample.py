"""Builds the bundled sample in pipelines/sample/ from ../shared/data (run once; output is committed).

Only permissively licensed rows are taken: Dolma/C4 Common Crawl extracts (ODC-BY) and CC-licensed
pages from Dolma's test fixtures, UDHR translations, GSM8K and HumanEval (MIT), and OpenStax
"Introduction to Python Programming" (CC-BY-4.0). See pipelines/sample/NOTICE.md.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SHARED = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
OUT = Path(__file__).resolve().parent.parent / "pipelines" / "sample"
rng = random.Random(20261122)


def pick(table: pa.Table, n: int) -> pa.Table:
    idx = sorted(rng.sample(range(table.num_rows), min(n, table.num_rows)))
    return table.take(idx)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    cc = pq.read_table(SHARED / "cc_misc_samples" / "cc_misc_samples.parquet")
    odc = cc.filter(pc.match_substring(cc["license"], "ODC-BY"))
    cc_licensed = cc.filter(pc.equal(cc["source"], "dolma-cc-2019-warc-extract(cc-licensed pages)"))
    web = pa.concat_tables([odc, pick(cc_licensed, 180)])
    web = web.select(["id", "text", "url", "source", "license", "lang_fasttext"]).rename_columns(
        ["id", "text", "url", "source", "license", "lang"]
    )
    pq.write_table(web, OUT / "web-cc.parquet", compression="zstd")

    udhr = pq.read_table(SHARED / "multilingual_udhr" / "udhr_documents.parquet")
    udhr = pick(udhr.filter(pc.greater_equal(udhr["stage"], 4)), 40)
    udhr = pa.table(
        {
            "id": udhr["id"],
            "text": udhr["text"],
            "source": pa.array(["unicode-org/udhr"] * udhr.num_rows),
            "license": pa.array(["UDHR text (OHCHR: free reproduction)"] * udhr.num_rows),
            "lang": udhr["bcp47"],
        }
    )
    pq.write_table(udhr, OUT / "udhr.parquet", compression="zstd")

    skills = pq.read_table(SHARED / "skills" / "skills.parquet")
    rows = []
    for source_prefix, n in [
        ("openai/grade-school-math", 40),
        ("openstax/osbooks-introduction-python", 40),
        ("openai/human-eval", 20),
    ]:
        part = skills.filter(pc.starts_with(skills["source"], source_prefix))
        rows.extend(pick(part, n).select(["id", "text", "skill", "source", "license"]).to_pylist())
    with gzip.open(OUT / "skills.jsonl.gz", "wt", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"web-cc: {web.num_rows}, udhr: {udhr.num_rows}, skills: {len(rows)} rows -> {OUT}")


if __name__ == "__main__":
    main()
