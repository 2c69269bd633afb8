"""LLM-judged scoring: questions, prompt building, inference backends, score cache (see docs/ask_llm.md)."""
