"""Prompts as token ids, for backends that own a Hugging Face tokenizer (transformers, vLLM).

Each question is rendered once (through the model's chat template when it has one) with a
placeholder where the document goes, and split there into prefix and suffix token ids. A
document is escaped, tokenised once with special-token parsing off (a document that spells
`<|im_end|>` gets the characters, never the control token), truncated, and then shared by every
question: the prompt is `prefix + document + suffix`. When all questions render the same prefix
(Thresher's own questions do), `shared_prefix` is set and a backend may compute
`prefix + document` once and each question's suffix on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from thresher.llm.answers import answer_token_ids
from thresher.llm.prompts import DocumentEscaper, Question
from thresher.llm.truncation import Truncation, truncate

_SLOT = "\u2063THRESHER_DOCUMENT_SLOT\u2063"

ChatMode = Literal["auto", "always", "never"]


@dataclass
class CompiledQuestion:
    question: Question
    prefix_ids: list[int]  # everything before the document (BOS included for decoder-only models)
    suffix_ids: list[int]  # everything after it, up to where the answer is generated
    yes_ids: list[int]
    no_ids: list[int]
    decoder_prefix_ids: list[int]  # encoder-decoder models: decoder input before the answer


class TokenPrompts:
    def __init__(
        self,
        tokenizer,
        questions: list[Question],
        truncation: Truncation,
        *,
        encoder_decoder: bool,
        chat: ChatMode = "auto",
        sum_variants: bool = False,
        decoder_start_token_id: int | None = None,
    ) -> None:
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("ask_llm needs a fast (Rust) tokenizer: the model folder has no tokenizer.json")
        self.tokenizer = tokenizer
        self.truncation = truncation
        self.encoder_decoder = encoder_decoder
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if chat == "always" and not has_template:
            raise ValueError("chat: always, but the tokenizer has no chat template")
        self.use_chat = not encoder_decoder and (chat == "always" or (chat == "auto" and has_template))
        self.escaper = DocumentEscaper(tuple(d for q in questions for d in q.delimiters))
        # A private copy of the Rust tokenizer: documents are encoded with special tokens taken
        # literally and without any truncation or padding the saved tokenizer may carry.
        from tokenizers import Tokenizer

        self._documents = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
        self._documents.no_truncation()
        self._documents.no_padding()
        self._documents.encode_special_tokens = True
        self.marker_ids = self._documents.encode(truncation.marker, add_special_tokens=False).ids
        self._adds_bos = self._default_adds(tokenizer.bos_token_id, first=True)
        self._adds_eos = self._default_adds(tokenizer.eos_token_id, first=False)
        self.decoder_start_token_id = decoder_start_token_id
        self.questions = [self._compile(q, sum_variants) for q in questions]
        prefixes = {tuple(c.prefix_ids) for c in self.questions}
        self.shared_prefix: list[int] | None = list(prefixes.pop()) if len(prefixes) == 1 else None

    def _default_adds(self, token_id: int | None, first: bool) -> bool:
        if token_id is None:
            return False
        ids = self.tokenizer("a")["input_ids"]
        return bool(ids) and (ids[0] if first else ids[-1]) == token_id

    def _render(self, question: Question) -> tuple[str, str]:
        if self.use_chat:
            user = question.before_document + _SLOT + question.after_document
            messages = [{"role": "user", "content": user}]
            if question.system:
                messages.insert(0, {"role": "system", "content": question.system})
            try:
                text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - templates that refuse a system turn (Gemma) get it inline
                if not question.system:
                    raise
                merged = [{"role": "user", "content": f"{question.system}\n\n{user}"}]
                text = self.tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)
            text += question.answer_prefix
        else:
            text = question.render_plain(_SLOT)
        if text.count(_SLOT) != 1:
            raise ValueError(f"question {question.name!r}: the chat template lost or repeated the document slot")
        before, _, after = text.partition(_SLOT)
        return before, after

    def _encode_template(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False) if text else []

    def _compile(self, question: Question, sum_variants: bool) -> CompiledQuestion:
        before, after = self._render(question)
        prefix = self._encode_template(before)
        suffix = self._encode_template(after)
        bos = self.tokenizer.bos_token_id
        if self._adds_bos and (not prefix or prefix[0] != bos):
            prefix = [bos, *prefix]
        decoder_prefix: list[int] = []
        if self.encoder_decoder:
            if self._adds_eos:
                suffix = [*suffix, self.tokenizer.eos_token_id]
            if self.decoder_start_token_id is None:
                raise ValueError("encoder-decoder model without decoder_start_token_id")
            decoder_prefix = [self.decoder_start_token_id]
            lead = ""  # the first decoder token starts a word (SentencePiece marks it itself)
        else:
            ends_open = bool(after) and not after[-1].isspace()
            lead = " " if ends_open and (not self.use_chat or question.answer_prefix) else ""
        return CompiledQuestion(
            question=question,
            prefix_ids=prefix,
            suffix_ids=suffix,
            yes_ids=answer_token_ids(self.tokenizer, question.yes, lead, sum_variants),
            no_ids=answer_token_ids(self.tokenizer, question.no, lead, sum_variants),
            decoder_prefix_ids=decoder_prefix,
        )

    def encode_documents(self, texts: list[str]) -> list[list[int]]:
        """Escaped, tokenised and truncated documents (shared by every question)."""
        escaped = [self.escaper(t) for t in texts]
        encodings = self._documents.encode_batch(escaped, add_special_tokens=False)
        return [truncate(e.ids, self.truncation, self.marker_ids) for e in encodings]

    def prompt_ids(self, question: CompiledQuestion, document_ids: list[int]) -> list[int]:
        return [*question.prefix_ids, *document_ids, *question.suffix_ids]

    def max_prompt_tokens(self) -> int:
        longest = max(len(q.prefix_ids) + len(q.suffix_ids) for q in self.questions)
        return longest + self.truncation.max_tokens
