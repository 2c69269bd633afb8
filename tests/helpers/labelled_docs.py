"""Synthetic labelled documents for classifier tests: word problems, encyclopedic prose, code and
navigation junk, generated from a seed (no data files, no downloads)."""

from __future__ import annotations

import random

NAMES = ["Tom", "Ana", "Lee", "Maya", "Omar", "Ines", "Ravi", "Zoe"]
ITEMS = ["apples", "marbles", "books", "coins", "pencils", "stickers"]
PLACES = ["river valley", "northern province", "coastal city", "mountain range", "old harbour", "capital"]
ERAS = ["medieval", "colonial", "industrial", "ancient", "modern"]
TOPICS = ["trade", "agriculture", "architecture", "shipbuilding", "literature", "astronomy"]


def math_doc(rng: random.Random) -> str:
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    return (
        f"Question: {name} has {a} {item} and buys {b} more. Then {name} gives away {a // 2}. "
        f"How many {item} are left?\nAnswer: {name} has {a} + {b} = {a + b} {item}.\n"
        f"After giving away {a // 2}, {a + b} - {a // 2} = {a + b - a // 2}.\nThe answer is {a + b - a // 2}."
    )


def prose_doc(rng: random.Random) -> str:
    place, era, topic = rng.choice(PLACES), rng.choice(ERAS), rng.choice(TOPICS)
    year = rng.randint(1100, 1950)
    return (
        f"The {place} became a centre of {topic} during the {era} period. Records from {year} describe "
        f"merchants, scholars and craftsmen who settled along its roads. Historians note that the growth of "
        f"{topic} shaped the region's culture, and several museums in the {place} preserve documents from "
        f"that time."
    )


def code_doc(rng: random.Random) -> str:
    fn, var = rng.choice(["total", "count_items", "merge", "scale"]), rng.choice(["xs", "values", "items"])
    return (
        f"def {fn}({var}):\n    result = 0\n    for v in {var}:\n        result += v * {rng.randint(2, 9)}\n"
        f"    return result\n\nassert {fn}([1, 2]) == {3 * rng.randint(1, 3)}"
    )


def junk_doc(rng: random.Random) -> str:
    words = ["Home", "Login", "Cart", "Contact us", "Privacy", "Terms", "Share", "Menu", "Subscribe", "Cookies"]
    return " | ".join(rng.choice(words) for _ in range(rng.randint(6, 14)))


MAKERS = {"math": math_doc, "prose": prose_doc, "code": code_doc, "junk": junk_doc}


def labelled_docs(n_per_class: int, classes=("math", "prose", "code", "junk"), seed: int = 0) -> dict[str, list]:
    """Columns `text` and `label`, classes interleaved."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n_per_class):
        for c in classes:
            texts.append(MAKERS[c](rng))
            labels.append(c)
    return {"text": texts, "label": labels}
