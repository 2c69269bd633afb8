"""Inference backends for ask_llm behind one interface (`base.Backend`); heavy imports stay in each module."""
