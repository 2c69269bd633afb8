"""A small OpenAI-compatible server on 127.0.0.1 that answers with a real model's logprobs.

It serves `/v1/completions` and `/v1/chat/completions` the way vLLM does: the chat endpoint
renders the messages with the tokenizer's chat template, the prompt is tokenised with special
tokens parsed, one forward pass gives the first token's log-softmax, and the top-k come back in
the OpenAI wire format. Every request's token ids and full log-softmax are logged so tests can
compare the client's numbers with the truth. Faults for testing the client: a number of
failures with a status code, a delay, answers without logprobs.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


@dataclass
class Faults:
    fail_next: int = 0  # answer this many requests with `fail_status`
    fail_status: int = 503
    retry_after: str | None = None
    delay_s: float = 0.0
    omit_logprobs: bool = False
    max_top_logprobs: int = 10_000  # real servers cap this (OpenAI: 20)


@dataclass
class Log:
    prompts: list[list[int]] = field(default_factory=list)
    log_probs: list[np.ndarray] = field(default_factory=list)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0


class LogprobServer:
    def __init__(self, model_dir: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.faults = Faults()
        self.log = Log()
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                status, answer, headers = server.handle(self.path, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> LogprobServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def first_token_log_probs(self, ids: list[int]) -> np.ndarray:
        torch = self.torch
        with self._model_lock, torch.inference_mode():
            logits = self.model(torch.tensor([ids])).logits[0, -1].double()
            return torch.log_softmax(logits, dim=-1).numpy()

    def handle(self, path: str, body: dict) -> tuple[int, dict, dict]:
        with self._lock:
            self.log.requests += 1
            self.log.in_flight += 1
            self.log.max_in_flight = max(self.log.max_in_flight, self.log.in_flight)
            failing = self.faults.fail_next > 0
            if failing:
                self.faults.fail_next -= 1
        try:
            if self.faults.delay_s:
                time.sleep(self.faults.delay_s)
            if failing:
                headers = {"Retry-After": self.faults.retry_after} if self.faults.retry_after else {}
                return self.faults.fail_status, {"error": {"message": "injected failure"}}, headers
            chat = path.endswith("/chat/completions")
            if chat:
                text = self.tokenizer.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=True)
                k = body.get("top_logprobs", 0) if body.get("logprobs") else 0
            else:
                text = body["prompt"]
                k = body.get("logprobs") or 0
            if k > self.faults.max_top_logprobs:
                return 400, {"error": {"message": f"top_logprobs {k} above {self.faults.max_top_logprobs}"}}, {}
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            log_probs = self.first_token_log_probs(ids)
            with self._lock:
                self.log.prompts.append(ids)
                self.log.log_probs.append(log_probs)
            order = np.argsort(-log_probs)[:k]
            tokens = [self.tokenizer.decode([int(i)]) for i in order]
            best = tokens[0] if tokens else self.tokenizer.decode([int(np.argmax(log_probs))])
            usage = {"prompt_tokens": len(ids), "completion_tokens": 1, "total_tokens": len(ids) + 1}
            if chat:
                content = [
                    {
                        "token": best,
                        "logprob": float(log_probs[order[0]]) if k else 0.0,
                        "top_logprobs": [
                            {"token": t, "logprob": float(log_probs[i])} for t, i in zip(tokens, order, strict=True)
                        ],
                    }
                ]
                choice = {"index": 0, "message": {"role": "assistant", "content": best}, "finish_reason": "length"}
                choice["logprobs"] = None if self.faults.omit_logprobs or not k else {"content": content}
                return 200, {"object": "chat.completion", "choices": [choice], "usage": usage}, {}
            choice = {"index": 0, "text": best, "finish_reason": "length"}
            top = {t: float(log_probs[i]) for t, i in zip(tokens, order, strict=True)}
            choice["logprobs"] = (
                None
                if self.faults.omit_logprobs or not k
                else {"tokens": [best], "token_logprobs": [top.get(best)], "top_logprobs": [top], "text_offset": [0]}
            )
            return 200, {"object": "text_completion", "choices": [choice], "usage": usage}, {}
        finally:
            with self._lock:
                self.log.in_flight -= 1
