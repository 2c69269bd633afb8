"""The `transformers` backend: a local Hugging Face model folder, on GPU when there is one.

Documents are sorted by length and packed into batches under a padded-token budget. Decoder-only
models get left padding with explicit position ids, so every row's last position is its answer
position and padding cannot change a score. When the questions share their prompt prefix, the
key/value cache of `prefix + document` is computed once per batch and each question's suffix runs
on top of it (the cache is cropped back between questions). Encoder-decoder models (Flan-T5)
read the first decoder step. Only the last position's logits are materialised.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from thresher.llm.answers import ScoreOptions
from thresher.llm.backends.base import Backend, BackendError, TransformersParams, model_identity
from thresher.llm.prompts import Question
from thresher.llm.tokenized import CompiledQuestion, TokenPrompts
from thresher.llm.truncation import Truncation

transformers.utils.logging.disable_progress_bar()  # the pipeline reports its own progress

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class TransformersBackend(Backend):
    params: TransformersParams

    def __init__(
        self, params: TransformersParams, questions: list[Question], truncation: Truncation, options: ScoreOptions
    ) -> None:
        super().__init__(params, questions, truncation, options)
        path = Path(params.model).expanduser()
        if not (path / "config.json").is_file():
            raise BackendError(f"{params.model}: not a local model folder (no config.json); nothing is downloaded")
        if params.threads:
            torch.set_num_threads(params.threads)
        if params.device == "auto":
            self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            self.device = torch.device(params.device)
        if params.dtype == "auto":
            gpu = self.device.type == "cuda"
            self.dtype = torch.bfloat16 if gpu and torch.cuda.is_bf16_supported() else torch.float32
        else:
            self.dtype = _DTYPES[params.dtype]
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        self.encoder_decoder = bool(getattr(config, "is_encoder_decoder", False))
        loader = AutoModelForSeq2SeqLM if self.encoder_decoder else AutoModelForCausalLM
        kwargs = {"local_files_only": True}
        if params.attn_implementation:
            kwargs["attn_implementation"] = params.attn_implementation
        kwargs["dtype" if _version(transformers.__version__) >= (4, 56) else "torch_dtype"] = self.dtype
        self.model = loader.from_pretrained(path, **kwargs).to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.prompts = TokenPrompts(
            self.tokenizer,
            questions,
            truncation,
            encoder_decoder=self.encoder_decoder,
            chat=params.chat,
            sum_variants=options.sum_variants,
            decoder_start_token_id=getattr(self.model.config, "decoder_start_token_id", None),
        )
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (self.tokenizer.eos_token_id or 0)
        forward_args = inspect.signature(self.model.forward).parameters
        self._keep_arg = next((a for a in ("logits_to_keep", "num_logits_to_keep") if a in forward_args), None)
        self._answer_ids = [
            (torch.tensor(c.yes_ids, device=self.device), torch.tensor(c.no_ids, device=self.device))
            for c in self.prompts.questions
        ]
        self._model_id = model_identity(params)

    @property
    def model_id(self) -> str:
        return self._model_id

    def describe_prompts(self) -> dict:
        """The rendered prompt pieces (what the model sees around each document)."""
        return {
            c.question.name: {
                "prefix": self.tokenizer.decode(c.prefix_ids),
                "suffix": self.tokenizer.decode(c.suffix_ids),
                "yes_tokens": self.tokenizer.convert_ids_to_tokens(c.yes_ids),
                "no_tokens": self.tokenizer.convert_ids_to_tokens(c.no_ids),
            }
            for c in self.prompts.questions
        }

    # -- batching -----------------------------------------------------------------------------
    def _batches(self, lengths: list[int], extra: int) -> list[list[int]]:
        """Row indices grouped by length so padding stays small; each batch under the token budget."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            width = lengths[i] + extra  # sorted ascending: the newest row is the widest
            full = len(current) >= self.params.max_batch_rows
            if current and (full or (len(current) + 1) * width > self.params.batch_tokens):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def _left_padded(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r) :] = 1
        return ids.to(self.device), mask.to(self.device)

    def _right_padded(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        return ids.to(self.device), mask.to(self.device)

    def _forward(self, **inputs):
        if self._keep_arg is not None:
            inputs[self._keep_arg] = 1
        return self.model(**inputs)

    def _answer_logprobs(self, logits: torch.Tensor, question: int) -> torch.Tensor:
        """(rows, 2) log p(yes), log p(no) from last-position logits (one softmax over the vocabulary)."""
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        yes_ids, no_ids = self._answer_ids[question]
        yes = torch.logsumexp(log_probs[:, yes_ids], dim=-1)
        no = torch.logsumexp(log_probs[:, no_ids], dim=-1)
        return torch.stack([yes, no], dim=-1)

    # -- scoring ------------------------------------------------------------------------------
    @torch.inference_mode()
    def score(self, texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), len(self.questions), 2), np.nan)
        if not texts:
            return out
        docs = self.prompts.encode_documents(texts)
        compiled = self.prompts.questions
        if (
            not self.encoder_decoder
            and self.params.share_prefix
            and self.prompts.shared_prefix is not None
            and len(compiled) > 1
        ):
            self._score_shared(docs, out)
        else:
            for qi, question in enumerate(compiled):
                self._score_question(qi, question, docs, out)
        return out

    def _score_question(self, qi: int, question: CompiledQuestion, docs: list[list[int]], out: np.ndarray) -> None:
        extra = len(question.prefix_ids) + len(question.suffix_ids)
        for rows in self._batches([len(d) for d in docs], extra):
            prompts = [self.prompts.prompt_ids(question, docs[i]) for i in rows]
            self.tokens_scored += sum(len(p) for p in prompts)
            if self.encoder_decoder:
                ids, mask = self._right_padded(prompts)
                start = torch.tensor([question.decoder_prefix_ids] * len(rows), device=self.device)
                logits = self.model(input_ids=ids, attention_mask=mask, decoder_input_ids=start).logits[:, -1]
            else:
                ids, mask = self._left_padded(prompts)
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                logits = self._forward(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1]
            out[rows, qi] = self._answer_logprobs(logits, qi).cpu().double().numpy()

    def _score_shared(self, docs: list[list[int]], out: np.ndarray) -> None:
        prefix = self.prompts.shared_prefix
        compiled = self.prompts.questions
        longest_suffix = max(len(c.suffix_ids) for c in compiled)
        for rows in self._batches([len(d) for d in docs], len(prefix) + longest_suffix):
            heads = [[*prefix, *docs[i]] for i in rows]
            self.tokens_scored += sum(len(h) for h in heads)
            ids, mask = self._left_padded(heads)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            first = self._forward(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True)
            cache = first.past_key_values
            width = ids.shape[1]
            lengths = mask.sum(-1, keepdim=True)
            for qi, question in enumerate(compiled):
                suffix = question.suffix_ids
                if not suffix:
                    logits = first.logits[:, -1]
                else:
                    self.tokens_scored += len(suffix) * len(rows)
                    tail = torch.tensor([suffix] * len(rows), device=self.device)
                    tail_mask = torch.cat([mask, torch.ones_like(tail)], dim=-1)
                    tail_positions = lengths + torch.arange(len(suffix), device=self.device)
                    step = self._forward(
                        input_ids=tail,
                        attention_mask=tail_mask,
                        position_ids=tail_positions,
                        past_key_values=cache,
                        use_cache=True,
                    )
                    logits = step.logits[:, -1]
                    cache = _crop(step.past_key_values, width)
                out[rows, qi] = self._answer_logprobs(logits, qi).cpu().double().numpy()

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def _crop(cache, width: int):
    """The key/value cache cut back to the first `width` positions (drops a question's suffix)."""
    if not hasattr(cache, "crop"):
        raise BackendError(
            f"this transformers version returns a {type(cache).__name__} cache that cannot be cropped; "
            "set share_prefix: false"
        )
    extra = cache.get_seq_length() - width
    if extra > 0:
        cache.crop(-extra)  # a negative argument removes that many positions in every version
    return cache
