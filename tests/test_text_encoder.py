"""The sentence encoder: offline from the pip package, imported lazily, each caption set encoded once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_core import text_encoder

REPO = Path(__file__).resolve().parents[1]

OFFLINE_SCRIPT = """
import json, sys
from pathlib import Path
from gan_core import text_encoder as te
lazy = "sentence_transformers" not in sys.modules
cache = Path(sys.argv[1])
captions = ["a bold italic serif seven", "the digit 7 in a heavy slanted serif face", "a thin sans-serif four",
            "a bold italic serif seven"]
first = te.cached_encode(captions, cache)
def refuse(_):
    raise AssertionError("encoded again")
te.encode = refuse
second = te.cached_encode(captions, cache)
print(json.dumps({"lazy": lazy, "shape": list(first.shape), "dtype": str(first.dtype),
                  "norms": [float(n) for n in (first ** 2).sum(1)], "same": bool((first == second).all()),
                  "similarity": (first @ first.T).tolist(), "files": len(list(cache.glob("*.npy")))}))
"""


def test_encoder_loads_offline_and_the_second_call_hits_the_cache(tmp_path: Path) -> None:
    # no hub reachable (a closed port), an empty hub cache, and HF_HUB_OFFLINE unset: the package's files must do
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(PYTHONPATH=str(REPO), HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    result = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT, str(tmp_path / "cache")], env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["lazy"], "importing gan_core.text_encoder must not import sentence-transformers"
    assert out["shape"] == [4, text_encoder.EMBEDDING_DIM] and out["dtype"] == "float32"
    assert np.allclose(out["norms"], 1.0, atol=1e-5)
    assert out["same"] and out["files"] == 1
    similarity = np.array(out["similarity"])
    assert similarity[0, 3] == pytest.approx(1.0)  # a repeated caption gets the same vector
    assert similarity[0, 1] > 0.3  # the model's own sense of "same meaning", not a random vector


def test_a_new_caption_set_or_model_gets_its_own_cache_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_encode(sentences: list[str]) -> np.ndarray:
        calls.append(list(sentences))
        return np.full((len(sentences), text_encoder.EMBEDDING_DIM), len(calls), dtype=np.float32)

    monkeypatch.setattr(text_encoder, "encode", fake_encode)
    text_encoder.cached_encode(["b", "a", "b"], tmp_path)
    assert calls == [["a", "b"]]  # each distinct sentence once
    text_encoder.cached_encode(["a", "b"], tmp_path)
    assert len(calls) == 1
    text_encoder.cached_encode(["a", "c"], tmp_path)
    assert len(calls) == 2
    monkeypatch.setattr(text_encoder, "model_id", lambda: "another-model==1")
    text_encoder.cached_encode(["a", "c"], tmp_path)
    assert len(calls) == 3 and len(list(tmp_path.glob("*.npy"))) == 3


def test_a_damaged_cache_file_is_recomputed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_encoder, "encode",
                        lambda s: np.ones((len(s), text_encoder.EMBEDDING_DIM), dtype=np.float32))
    text_encoder.cached_encode(["a"], tmp_path)
    (cache_file,) = tmp_path.glob("*.npy")
    cache_file.write_bytes(b"not numpy")
    assert text_encoder.cached_encode(["a"], tmp_path).shape == (1, text_encoder.EMBEDDING_DIM)
