"""The `openai` backend: any OpenAI-compatible server (vLLM serve, TGI, llama.cpp, SGLang).

One request per (document, question), `max_tokens: 1` at temperature 0 with top logprobs, sent by
a pool of `concurrency` threads. Timeouts, connection errors, 429 and 5xx are retried with
exponential backoff and jitter (a server's Retry-After is honoured); other errors stop the run
with the server's message. A server that answers without logprobs is an error naming the fix.

The document is escaped as text, chat-control strings included, because the server tokenises
the prompt itself and may parse them as special tokens. Truncation is token-exact when a local
`tokenizer` folder is given, by characters otherwise. Requests for one document's questions are
sent together, so a server with prefix caching computes the shared document prefix once.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from thresher.llm.answers import ScoreOptions, log_prob_from_top
from thresher.llm.backends.base import Backend, BackendError, OpenAIParams, model_identity
from thresher.llm.prompts import DocumentEscaper, Question
from thresher.llm.truncation import Truncation, truncate, truncate_text

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OpenAIBackend(Backend):
    params: OpenAIParams

    def __init__(
        self, params: OpenAIParams, questions: list[Question], truncation: Truncation, options: ScoreOptions
    ) -> None:
        super().__init__(params, questions, truncation, options)
        if params.api == "chat":
            prefixed = [q.name for q in questions if q.answer_prefix]
            if prefixed:
                raise BackendError(f"questions {prefixed} set answer_prefix, which needs api: completions")
        self.base_url = params.base_url.rstrip("/")
        self.escaper = DocumentEscaper(tuple(d for q in questions for d in q.delimiters), chat_control=True)
        self.tokenizer = None
        if params.tokenizer:
            try:
                from transformers import AutoTokenizer
            except ImportError as err:
                raise BackendError(
                    "openai.tokenizer needs the transformers package: pip install 'thresher[llm]'"
                ) from err
            self.tokenizer = AutoTokenizer.from_pretrained(params.tokenizer, local_files_only=True)
        self.headers = {"Content-Type": "application/json"}
        key = os.environ.get(params.api_key_env) if params.api_key_env else None
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self._pool = ThreadPoolExecutor(max_workers=params.concurrency, thread_name_prefix="ask-llm-http")
        self._count_lock = threading.Lock()
        self.requests_sent = 0
        self.retries = 0

    @property
    def model_id(self) -> str:
        return model_identity(self.params)

    # -- prompts ------------------------------------------------------------------------------
    def _prepare(self, text: str) -> str:
        text = self.escaper(text)
        if self.tokenizer is None:
            return truncate_text(text, self.truncation)
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) <= self.truncation.max_tokens:
            return text
        marker = self.tokenizer.encode(self.truncation.marker, add_special_tokens=False)
        return self.tokenizer.decode(truncate(ids, self.truncation, marker))

    def _payload(self, question: Question, document: str) -> tuple[dict[str, Any], str]:
        """Request body and the answer's leading text (a space when the prompt ends mid-line)."""
        p = self.params
        user = question.before_document + document + question.after_document
        if p.api == "chat":
            messages = [{"role": "user", "content": user}]
            if question.system:
                messages.insert(0, {"role": "system", "content": question.system})
            body = {"messages": messages, "logprobs": True, "top_logprobs": p.top_logprobs}
            lead = ""
        else:
            if self.tokenizer is not None and getattr(self.tokenizer, "chat_template", None):
                messages = [{"role": "user", "content": user}]
                if question.system:
                    messages.insert(0, {"role": "system", "content": question.system})
                prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
                prompt += question.answer_prefix
                lead = " " if question.answer_prefix and not question.answer_prefix[-1].isspace() else ""
            else:
                prompt = question.render_plain(document)
                lead = " "
            body = {"prompt": prompt, "logprobs": p.top_logprobs}
        body.update(model=p.model, max_tokens=1, temperature=0.0)
        return body, lead

    # -- HTTP ---------------------------------------------------------------------------------
    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = "/chat/completions" if self.params.api == "chat" else "/completions"
        request = urllib.request.Request(
            self.base_url + endpoint, data=json.dumps(body).encode(), headers=self.headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.params.timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            detail = err.read()[:500].decode("utf-8", "replace")
            if err.code in _RETRY_STATUS:
                raise _Retryable(f"HTTP {err.code}: {detail}", _retry_after(err.headers.get("Retry-After"))) from None
            raise BackendError(f"{self.base_url}{endpoint}: HTTP {err.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            raise _Retryable(f"{type(err).__name__}: {getattr(err, 'reason', err)}") from None
        except json.JSONDecodeError as err:
            raise BackendError(f"{self.base_url}{endpoint}: the answer is not JSON ({err})") from None

    def _post_with_retries(self, body: dict[str, Any]) -> dict[str, Any]:
        p = self.params
        for attempt in range(p.max_retries + 1):
            try:
                with self._count_lock:
                    self.requests_sent += 1
                return self._post(body)
            except _Retryable as err:
                if attempt == p.max_retries:
                    raise BackendError(
                        f"{self.base_url}: gave up after {p.max_retries + 1} attempts; last error: {err}"
                    ) from None
                with self._count_lock:
                    self.retries += 1
                delay = min(p.max_backoff_s, p.backoff_s * 2**attempt) * (0.5 + random.random())
                if err.retry_after is not None:
                    delay = min(max(delay, err.retry_after), p.max_backoff_s)
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _top_logprobs(self, answer: dict[str, Any]) -> dict[str, float]:
        try:
            choice = answer["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise BackendError(f"{self.base_url}: unexpected answer shape: {json.dumps(answer)[:300]}") from None
        logprobs = choice.get("logprobs")
        try:
            if self.params.api == "chat":
                entries = logprobs["content"][0]["top_logprobs"]
                top = {e["token"]: float(e["logprob"]) for e in entries}
            else:
                top = {t: float(v) for t, v in logprobs["top_logprobs"][0].items()}
        except (KeyError, IndexError, TypeError):
            top = {}
        if not top:
            raise BackendError(
                f"{self.base_url} (model {self.params.model!r}) returned no logprobs. The ask_llm score needs "
                "the first token's top logprobs: use a server that supports them (vLLM, SGLang, TGI, "
                "llama.cpp server) and allow top_logprobs >= the configured value (vLLM: --max-logprobs)."
            )
        return top

    def _score_one(self, question: Question, document: str) -> tuple[float, float]:
        body, lead = self._payload(question, document)
        answer = self._post_with_retries(body)
        top = self._top_logprobs(answer)
        usage = answer.get("usage") or {}
        with self._count_lock:
            self.tokens_scored += int(usage.get("prompt_tokens") or 0)
        yes, yes_exact = log_prob_from_top(top, question.yes, lead, self.options.sum_variants)
        no, no_exact = log_prob_from_top(top, question.no, lead, self.options.sum_variants)
        if not (yes_exact and no_exact):
            with self._count_lock:
                self.answers_outside_top += (not yes_exact) + (not no_exact)
        return yes, no

    def score(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), len(self.questions), 2), np.nan)
        documents = [self._prepare(t) for t in texts]
        jobs = [(i, qi) for i in range(len(texts)) for qi in range(len(self.questions))]
        futures = [self._pool.submit(self._score_one, self.questions[qi], documents[i]) for i, qi in jobs]
        try:
            for (i, qi), future in zip(jobs, futures, strict=True):
                out[i, qi] = future.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
