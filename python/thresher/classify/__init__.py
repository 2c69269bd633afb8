"""Distilled classifiers: train a cheap model on labelled samples (LLM judgements or any label
column), save it as a versioned directory with its metrics, and score whole corpora with it.

    thresher.classify.train.train(config)        -> versioned model directory
    thresher.classify.models.load_scorer(path)   -> Scorer.predict(text column) -> probabilities

See docs/classifier.md.
"""
