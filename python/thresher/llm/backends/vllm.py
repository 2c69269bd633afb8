"""The `vllm` backend: vLLM's offline engine on a local model folder (decoder-only models).

Prompts are built as token ids by the same code as the transformers backend, so a document is
tokenised once, escaped and truncated identically, and never parsed for special tokens. Each
(document, question) prompt generates one token with the top `top_logprobs` logprobs. vLLM
reports logprobs of the raw model output (one softmax over the whole vocabulary, before any
sampling setting), so an answer among them is read exactly; otherwise it is bounded by the
smallest one returned (counted in `answers_outside_top`). Automatic prefix caching is on, and the
prompts of one document are submitted together, so the shared `prefix + document` is computed
once for all questions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from vllm import LLM, SamplingParams
from vllm.inputs import TokensPrompt

from thresher.llm.answers import ScoreOptions, log_prob_from_top_ids
from thresher.llm.backends.base import Backend, BackendError, VllmParams, model_identity
from thresher.llm.prompts import Question
from thresher.llm.tokenized import TokenPrompts
from thresher.llm.truncation import Truncation


class VllmBackend(Backend):
    params: VllmParams

    def __init__(
        self, params: VllmParams, questions: list[Question], truncation: Truncation, options: ScoreOptions
    ) -> None:
        super().__init__(params, questions, truncation, options)
        path = Path(params.model).expanduser()
        if not (path / "config.json").is_file():
            raise BackendError(f"{params.model}: not a local model folder (no config.json); nothing is downloaded")
        engine = {
            "model": str(path),
            "dtype": params.dtype,
            "enable_prefix_caching": True,
            "max_logprobs": params.top_logprobs,
            "gpu_memory_utilization": params.gpu_memory_utilization,
            "tensor_parallel_size": params.tensor_parallel_size,
        }
        if params.max_model_len:
            engine["max_model_len"] = params.max_model_len
        engine.update(params.engine_args)
        if json.loads((path / "config.json").read_text()).get("is_encoder_decoder"):
            raise BackendError("the vllm backend scores decoder-only models; use the transformers backend for seq2seq")
        self.llm = LLM(**engine)
        self.prompts = TokenPrompts(
            self.llm.get_tokenizer(),
            questions,
            truncation,
            encoder_decoder=False,
            chat=params.chat,
            sum_variants=options.sum_variants,
        )
        self.sampling = SamplingParams(max_tokens=1, temperature=0.0, logprobs=params.top_logprobs)
        self._model_id = model_identity(params)

    @property
    def model_id(self) -> str:
        return self._model_id

    def score(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), len(self.questions), 2), np.nan)
        if not texts:
            return out
        docs = self.prompts.encode_documents(texts)
        compiled = self.prompts.questions
        jobs = [(i, qi) for i in range(len(texts)) for qi in range(len(compiled))]
        prompts = [TokensPrompt(prompt_token_ids=self.prompts.prompt_ids(compiled[qi], docs[i])) for i, qi in jobs]
        self.tokens_scored += sum(len(p["prompt_token_ids"]) for p in prompts)
        results = self.llm.generate(prompts, self.sampling, use_tqdm=False)
        for (i, qi), result in zip(jobs, results, strict=True):
            step = result.outputs[0].logprobs
            if not step:
                raise BackendError("vLLM returned no logprobs for the first generated token")
            top = {token: entry.logprob for token, entry in step[0].items()}
            question = compiled[qi]
            yes, yes_exact = log_prob_from_top_ids(top, question.yes_ids, self.options.sum_variants)
            no, no_exact = log_prob_from_top_ids(top, question.no_ids, self.options.sum_variants)
            self.answers_outside_top += (not yes_exact) + (not no_exact)
            out[i, qi] = (yes, no)
        return out

    def close(self) -> None:
        del self.llm
