"""Grounded generation with llama.cpp: prompts from `prompts/`, streamed tokens.

A base model (the bundled Gemma 3 270M) is prompted completion-style with a short
worked example; a GGUF that carries a chat template is driven through it, with the
rule in the system message. Documents are data: they are delimited in the prompt
and any special-token text in them is defused before tokenisation.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import prompts
from ingest.chunking import sentence_spans
from ingest.lexical import tokenize
from ingest.models import DEFAULT_CACHE, resolve

from .types import Hit
from .verbatim import Choices, Decoder

log = logging.getLogger(__name__)

# The base model answers on one line; past it, it starts a new example or invents
# sources. Chat models end their turn themselves; these only stop runaway output.
STOP_COMPLETION = ["\n", "Source [", "Question:"]
STOP_CHAT = ["\nSource [", "\nQuestion:"]
NOT_IN_DOCUMENTS = "The documents do not say."
# The passages' share of the prompt, in tokens, when settings give none: the base
# model's prompt spends ~230 tokens on its worked examples (250 was tuned on SQuAD
# questions 300-359); the adapter's prompt has none, so its sources get that room
# (an answer visible in the excerpts for 90% of questions, from 83%).
SOURCE_TOKENS = {"completion": 250, "adapter": 350, "chat": 250}

# Text that a tokenizer could read as a control token: <start_of_turn>, <|im_start|>,
# <eos>, [INST], <<SYS>> ... The first bracket becomes a look-alike, so the words stay
# readable but can never become special tokens.
_SPECIAL = re.compile(r"<\|?/?[A-Za-z_][A-Za-z0-9_.:-]*\|?>|\[/?INST\]|<</?SYS>>")


def neutralise(text: str) -> str:
    """Defuse control-token look-alikes in untrusted text (documents, questions)."""
    return _SPECIAL.sub(lambda m: "\u2039" + m.group(0)[1:], text)


class Generator(Protocol):
    name: str
    chat: bool
    adapter: str  # the GGUF LoRA applied to the model ("" none): it was trained on prompts/answer_adapter.txt

    def stream(self, prompt: str | list[dict], *, max_tokens: int, stop: list[str], choices: Choices | None = None) -> Iterator[str]:
        """Yield the continuation piece by piece as the model produces it; with
        `choices`, only one of its lines (rag.verbatim), its decision recorded there."""
        ...

    def count_tokens(self, text: str) -> int: ...


class LlamaGenerator:
    """llama-cpp-python. The model is not thread-safe, so calls are serialised."""

    def __init__(self, model: str, *, n_ctx: int = 4096, threads: int = 0, style: str = "auto", temperature: float = 0.0, seed: int = 0, cache: str | Path = DEFAULT_CACHE, adapter: str = ""):
        from llama_cpp import Llama

        path = resolve(model, "SOURCED_LLM", cache)
        cores = os.cpu_count() or 1
        # llama-cpp-python's own default generates on half the cores; 0 here means all of them
        kwargs = dict(n_ctx=n_ctx, n_threads=threads or cores, n_threads_batch=threads or cores, seed=seed, verbose=False)
        if adapter:
            kwargs["lora_path"] = adapter
        with _without_extra_buffers():
            if path.endswith(".gguf") and not _is_file(path):  # "REPO_ID/FILE.gguf" on the hub
                repo, _, filename = path.rpartition("/")
                self.llm = Llama.from_pretrained(repo_id=repo, filename=filename, **kwargs)
            else:
                self.llm = Llama(model_path=path, **kwargs)
        self.name = model
        self.adapter = adapter
        self.n_ctx = n_ctx
        self.temperature = temperature
        has_template = bool(self.llm.metadata.get("tokenizer.chat_template"))
        self.chat = not adapter and (style == "chat" or (style == "auto" and has_template and not _is_base_model(self.llm.metadata)))
        self.lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, prompt: str | list[dict], *, max_tokens: int, stop: list[str], choices: Choices | None = None) -> Iterator[str]:
        with self.lock:
            if isinstance(prompt, list):
                parts = self.llm.create_chat_completion(prompt, max_tokens=max_tokens, temperature=self.temperature, stop=stop, stream=True)
                for part in parts:
                    text = part["choices"][0]["delta"].get("content")
                    if text:
                        yield text
            else:
                extra = {}
                if choices is not None:  # token ids, so the lookahead and the completion read the very same prompt
                    prompt = self.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)  # as create_completion reads a text prompt
                    decoder = self._decoder(choices)
                    decoder.weigh(*self._lookahead(prompt, decoder.refusal[0]))
                    if decoder.decision.refused or len(choices.lines) == 1:  # one path left: the decoder would write it token by token
                        yield " " + (choices.refusal if decoder.decision.refused else choices.lines[0])
                        return
                    extra = {"logits_processor": [decoder]}
                parts = self.llm.create_completion(prompt, max_tokens=max_tokens, temperature=self.temperature, stop=stop, stream=True, **extra)
                for part in parts:
                    text = part["choices"][0]["text"]
                    if text:
                        yield text

    def _decoder(self, choices: Choices) -> Decoder:
        """The logits processor that holds the answer to `choices`' lines; each line
        is tokenised as the adapter's targets were (" " + line + newline)."""

        def tokens(line: str) -> list[int]:
            return self.llm.tokenize(f" {line}\n".encode("utf-8"), add_bos=False, special=False)

        pool = [tokens(line) for line in choices.pool] or None
        return Decoder([tokens(line) for line in choices.lines], tokens(choices.refusal), self.llm.token_eos(), choices.threshold, pool, choices.decision)

    def evaluate(self, tokens: list[int]):
        """The logits over the vocabulary at the end of `tokens` (token ids), evaluated
        from where they part from the tokens already in the cache (the rule that opens
        every prompt stays there, as create_completion keeps it: 140 ms of a 940 ms
        lookahead on 2 cores). The last token is always evaluated: its logits are read."""
        kept = 0
        for a, b in zip(self.llm._input_ids[: self.llm.n_tokens], tokens[:-1]):
            if a != b:
                break
            kept += 1
        if kept and self.llm._ctx.kv_cache_seq_rm(-1, kept, -1):
            self.llm.n_tokens = kept
        else:
            self.llm.reset()
            kept = 0
        self.llm.eval(tokens[kept:])
        return self._logits()

    def _logits(self):
        import numpy as np

        return np.ctypeslib.as_array(self.llm._ctx.get_logits(), shape=(self.llm.n_vocab(),)).copy()

    def _lookahead(self, tokens: list[int], first: int) -> tuple:
        """The logits at the end of `tokens` (`evaluate`) and after `first` past it;
        create_completion then finds the prompt in the cache (it drops `first` and
        replays the prompt's last token)."""
        at_start = self.evaluate(tokens)
        self.llm.eval([first])
        return at_start, self._logits()


_LOADING = threading.Lock()


@contextlib.contextmanager
def _without_extra_buffers():
    """Load with llama.cpp's extra CPU buffer types off (`use_extra_bufts`: AMX tiles
    and repacked weights). With them, the first decode of the bundled Gemma crashed
    (segmentation fault) on an Intel Xeon with AMX, llama-cpp-python 0.3.36 built
    natively; without them it runs. The Python API has no argument for it, so the
    default model parameters are wrapped while one model loads."""
    import llama_cpp.llama as binding

    with _LOADING:
        original = binding.llama_cpp.llama_model_default_params

        def params():
            p = original()
            p.use_extra_bufts = False
            return p

        binding.llama_cpp.llama_model_default_params = params
        try:
            yield
        finally:
            binding.llama_cpp.llama_model_default_params = original


def _is_file(path: str) -> bool:
    return Path(path).is_file()


def _is_base_model(metadata: dict) -> bool:
    """Gemma 'pt' and other base checkpoints may still ship a chat template they were
    never tuned for; the bundled model is such a base model."""
    name = (metadata.get("general.name", "") + " " + metadata.get("general.finetune", "")).lower()
    return not any(w in name for w in ("instruct", "-it", " it", "chat"))


# ---------------------------------------------------------------- prompts


def focus(text: str, question: str, budget_tokens: int, count) -> str:
    """The sentences of `text` most related to `question` that fit `budget_tokens`,
    in document order, with "…" where sentences were left out.

    A small model reads a short, relevant context better and sooner: prompt
    processing dominates time to first token on a CPU. Citations are still checked
    against the whole passage.
    """
    if count(text) <= budget_tokens:
        return text
    spans = sentence_spans(text) or [(0, len(text))]
    terms = set(tokenize(question))
    ranked = sorted(range(len(spans)), key=lambda i: (-len(terms & set(tokenize(text[spans[i][0] : spans[i][1]]))), i))
    chosen, used = [], 0
    for i in ranked:
        cost = count(text[spans[i][0] : spans[i][1]])
        if used + cost > budget_tokens and chosen:
            continue
        chosen.append(i)
        used += cost
    chosen.sort()
    parts, previous = [], None
    for i in chosen:
        if previous is not None and i != previous + 1:
            parts.append("…")
        parts.append(text[spans[i][0] : spans[i][1]])
        previous = i
    out = " ".join(parts)
    while count(out) > budget_tokens and len(out) > 80:  # one very long sentence: cut at a word
        out = out[: int(len(out) * 0.85)].rsplit(" ", 1)[0] + " …"
    return out


def format_sources(hits: list[Hit], budget_tokens: int, count, question: str = "") -> str:
    """One line per numbered source (newlines in a document cannot start a fake
    "Question:" line), each focused to an even share of the token budget."""
    per_source = max(budget_tokens // max(len(hits), 1), 32)
    blocks = []
    for n, hit in enumerate(hits, start=1):
        text = focus(neutralise(" ".join(hit.chunk.text.split())), question, per_source, count)
        blocks.append(prompts.render("source", n=str(n), file=hit.chunk.source, page=str(hit.chunk.page), text=text))
    return "\n".join(b.strip() for b in blocks)


def prompt_style(generator: Generator) -> str:
    """"adapter" (a model with the answering adapter: its own prompt, no worked
    examples), "chat" (a chat template) or "completion" (a base model, worked examples)."""
    return "adapter" if getattr(generator, "adapter", "") else "chat" if generator.chat else "completion"


def answer_prompt(question: str, hits: list[Hit], generator: Generator, n_ctx: int, max_tokens: int, source_tokens: int | None = None, style: str | None = None) -> str | list[dict]:
    """The prompt for `question` over `hits` in the generator's style (or `style`:
    the adapter's training examples are written with the base model's tokenizer):
    sources get at most `source_tokens` (None: the style's own SOURCE_TOKENS), and
    never more than `n_ctx` leaves after the template and the answer's `max_tokens`."""
    question = neutralise(question)
    style = style or prompt_style(generator)
    source_tokens = SOURCE_TOKENS[style] if source_tokens is None else source_tokens
    if style == "chat":
        system = prompts.render("answer_system")
        overhead = generator.count_tokens(system + question) + 64
        sources = format_sources(hits, min(source_tokens, n_ctx - max_tokens - overhead), generator.count_tokens, question)
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": prompts.render("answer_user", sources=sources, question=question)},
        ]
    template = "answer_adapter" if style == "adapter" else "answer_completion"
    overhead = generator.count_tokens(prompts.render(template, sources="", question=question)) + 16
    sources = format_sources(hits, min(source_tokens, n_ctx - max_tokens - overhead), generator.count_tokens, question)
    return prompts.render(template, sources=sources, question=question)


def generate(generator: Generator, prompt, *, max_tokens: int, deadline_s: float = 60.0, choices: Choices | None = None) -> Iterator[str]:
    """Stream tokens, stopping at the stop sequences, the token limit or the deadline;
    `choices`: the answer is one of its lines (rag.verbatim)."""
    t0 = time.monotonic()
    stop = STOP_CHAT if isinstance(prompt, list) else STOP_COMPLETION
    for piece in generator.stream(prompt, max_tokens=max_tokens, stop=stop, choices=choices):
        yield piece
        if time.monotonic() - t0 > deadline_s:
            log.warning("generation stopped at the %.0f s deadline", deadline_s)
            break
