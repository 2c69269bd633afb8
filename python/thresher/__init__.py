"""Thresher: pretraining data-quality filtering for LLM corpora.

Library use (notebooks):

    import thresher
    pipe = thresher.Pipeline.from_steps([{"type": "text_length", "min_words": 50}])
    result = pipe.run_table(table)       # result.kept, result.rejected, result.stats
"""

from thresher._core import __version__
from thresher.api import Pipeline, PipelineResult
from thresher.config import ConfigError, load_pipeline, parse_pipeline

__all__ = ["ConfigError", "Pipeline", "PipelineResult", "__version__", "load_pipeline", "parse_pipeline"]
