"""The shared loop: batched logging, checkpoints that restore exactly, the divergence guard, the classifier."""

from __future__ import annotations

import copy
import multiprocessing
import time
from functools import partial
from pathlib import Path

import pytest
import torch

from gan_core.config import ClassifierParams, EvaluationParams, UserError
from gan_core.evaluate.classifier import accuracy, train_classifier
from gan_core.evaluate.image_metrics import compare_to_reference
from gan_core.data import image_batches
from gan_core.train import SCORE_IN_TRAINING, TrainingDiverged, load_checkpoint, seed_everything, train
from gan_core.variants import build_variant
from gan_core.workspace import once_per_machine
from tests.test_unconditional import CONFIG, SPEC


def run(digits, tmp_path, steps=120, resume=None, checkpoint_every=100, log_samples=None, score=None, eval_every=0,
        stop_at=None, **config):
    seed_everything(0, torch.device("cpu"))
    gan = build_variant("mlp", {**CONFIG, **config}, SPEC, torch.device("cpu"))
    logged = []
    result = train(gan, partial(image_batches, digits[0]), steps=steps, seed=0, log_every=50,
                   checkpoint_path=tmp_path / "ckpt.pt", checkpoint_every=checkpoint_every,
                   log_metrics=lambda values, step: logged.append((step, values)), resume=resume,
                   meta={"run_id": "r1"}, log_samples=log_samples,
                   score=None if score is None else lambda: score(gan), eval_every=eval_every, stop_at=stop_at)
    return gan, result, logged


def scripted(scores):
    """A scorer that answers `scores` in turn and remembers the generator's first weight at each call."""
    calls = []

    def score(gan):
        calls.append(next(iter(gan.generator_state()["G"].values())).clone())
        return scores[len(calls) - 1]
    score.calls = calls
    return score


def test_logs_interval_means_and_checkpoints_the_last_step(digits, tmp_path):
    gan, result, logged = run(digits, tmp_path)
    assert [step for step, _ in logged] == [50, 100, 120]
    assert set(logged[0][1]) == {"loss_d_fake", "loss_d_real", "loss_g"}
    assert result.final_losses == logged[-1][1]
    checkpoint = load_checkpoint(tmp_path / "ckpt.pt")
    assert checkpoint["step"] == 120 and checkpoint["variant"] == "mlp" and checkpoint["meta"] == {"run_id": "r1"}
    assert set(checkpoint["rng"]) >= {"torch"}
    # keep_checkpoints = 2: the latest and, in history/, the one before it
    assert [p.name for p in (tmp_path / "history").iterdir()] == ["step-00000100.pt"]

    restored = build_variant("mlp", checkpoint["config"], SPEC, torch.device("cpu"))
    restored.load_state_dict(checkpoint["state"])
    same_noise = [torch.Generator().manual_seed(3) for _ in range(2)]
    assert torch.equal(gan.sample(8, same_noise[0]), restored.sample(8, same_noise[1]))
    for name, opt in gan.optims.items():
        assert opt.state_dict()["state"].keys() == restored.optims[name].state_dict()["state"].keys()


def test_same_seed_same_parameters(digits, tmp_path):
    first, _, _ = run(digits, tmp_path / "a")
    second, _, _ = run(digits, tmp_path / "b")
    for a, b in zip(first.nets["G"].parameters(), second.nets["G"].parameters()):
        assert torch.equal(a, b)


def test_samples_are_logged_at_each_checkpoint_and_change_nothing(digits, tmp_path):
    steps = []

    def log_samples(step: int) -> None:  # draws from the global RNG, as a sampler could
        steps.append(step)
        torch.randn(1000)

    quiet, _, _ = run(digits, tmp_path / "quiet", checkpoint_every=50)
    logging, _, _ = run(digits, tmp_path / "logging", checkpoint_every=50, log_samples=log_samples)
    assert steps == [50, 100, 120]  # every checkpoint, the last step's included
    for a, b in zip(quiet.nets["G"].parameters(), logging.nets["G"].parameters()):
        assert torch.equal(a, b)


def test_resuming_from_a_checkpoint_equals_never_stopping(digits, tmp_path):
    straight, _, _ = run(digits, tmp_path / "straight", steps=150, checkpoint_every=60)
    run(digits, tmp_path / "stopped", steps=60, checkpoint_every=60)  # as if killed right after step 60
    checkpoint = load_checkpoint(tmp_path / "stopped" / "ckpt.pt")
    resumed, result, logged = run(digits, tmp_path / "stopped", steps=150, checkpoint_every=60, resume=checkpoint)
    assert [step for step, _ in logged] == [100, 150]
    for name in ("G", "D"):
        for a, b in zip(straight.nets[name].state_dict().values(), resumed.nets[name].state_dict().values()):
            assert torch.equal(a, b)
    assert load_checkpoint(tmp_path / "stopped" / "ckpt.pt")["step"] == 150


def test_the_best_scoring_generator_is_kept_not_the_last(digits, tmp_path):
    score = scripted([5.0, 2.0, float("nan"), 3.0, 4.0, 2.5])
    gan, result, logged = run(digits, tmp_path, steps=120, eval_every=20, score=score)
    scored = [(step, values[SCORE_IN_TRAINING]) for step, values in logged if SCORE_IN_TRAINING in values]
    assert [step for step, _ in scored] == [20, 40, 60, 80, 100, 120]
    assert result.best.step == 40 and result.best.score == 2.0  # a NaN score never wins
    assert torch.equal(next(iter(result.best.generator["G"].values())), score.calls[1])
    assert not torch.equal(score.calls[1], next(iter(gan.generator_state()["G"].values())))  # it trained on
    best = load_checkpoint(tmp_path / "ckpt.pt")["best"]
    assert best["step"] == 40 and torch.equal(next(iter(best["generator"]["G"].values())), score.calls[1])


def test_a_score_at_its_stop_ends_the_training_there_as_a_last_step(digits, tmp_path):
    gan, result, logged = run(digits, tmp_path, steps=120, eval_every=20, score=scripted([5.0, 3.0, 2.0, 1.0]),
                              stop_at=2.0)
    assert result.steps == 60 and len(gan.optims["G"].state_dict()["state"]) and result.best.step == 60
    assert [step for step, _ in logged] == [20, 40, 50, 60, 60]  # scores, losses at 50, then 60's score and losses
    assert set(logged[-1][1]) == {"loss_d_fake", "loss_d_real", "loss_g"} and result.final_losses == logged[-1][1]
    assert load_checkpoint(tmp_path / "ckpt.pt")["step"] == 60


def test_scoring_changes_nothing_in_training(digits, tmp_path):
    quiet, _, _ = run(digits, tmp_path / "quiet")
    scored, _, _ = run(digits, tmp_path / "scored", eval_every=10, score=lambda gan: float(torch.randn(500).sum()))
    for a, b in zip(quiet.nets["G"].parameters(), scored.nets["G"].parameters()):
        assert torch.equal(a, b)


def test_a_resumed_training_keeps_its_best(digits, tmp_path):
    run(digits, tmp_path, steps=60, checkpoint_every=60, eval_every=20, score=scripted([3.0, 1.0, 2.0]))
    checkpoint = load_checkpoint(tmp_path / "ckpt.pt")
    _, result, _ = run(digits, tmp_path, steps=120, checkpoint_every=60, eval_every=20,
                       score=scripted([4.0, 5.0, 1.5]), resume=checkpoint)
    assert (result.best.step, result.best.score) == (40, 1.0)  # from before the interruption
    assert torch.equal(next(iter(result.best.generator["G"].values())),
                       next(iter(checkpoint["best"]["generator"]["G"].values())))


def test_divergence_stops_within_one_logging_interval_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    run(digits, tmp_path, steps=60, checkpoint_every=60)
    good = load_checkpoint(tmp_path / "ckpt.pt")
    absurd = copy.deepcopy(good)  # an absurd learning rate from step 61 on
    for optimizer in absurd["state"]["optims"].values():
        optimizer["param_groups"][0]["lr"] = 1e30
    with pytest.raises(TrainingDiverged) as err:
        run(digits, tmp_path, steps=400, checkpoint_every=60, resume=absurd)
    assert 60 < err.value.step <= 100
    assert "non-finite loss" in str(err.value) and "last good checkpoint (step 60)" in str(err.value)
    kept = load_checkpoint(tmp_path / "ckpt.pt")
    assert kept["step"] == 60 and all(torch.equal(a, b) for a, b in zip(
        kept["state"]["nets"]["G"].values(), good["state"]["nets"]["G"].values()))


def test_not_a_checkpoint_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    torch.save({"weights": torch.zeros(3)}, junk)  # a torch file, but not a training checkpoint
    with pytest.raises(UserError, match="not a checkpoint of this pipeline"):
        load_checkpoint(junk)


def test_classifier_features_separate_real_from_noise(digits):
    train_set, test_set = digits
    classifier = train_classifier(train_set, ClassifierParams(epochs=8), seed=0)
    assert accuracy(classifier, test_set) > 0.95
    noise = torch.rand(len(test_set), 1, 8, 8) * 2 - 1
    scores = compare_to_reference(classifier, train_set, {"test": test_set.images, "noise": noise},
                                  EvaluationParams(), seed=0)
    assert scores["test"]["fid"] * 10 < scores["noise"]["fid"]
    assert scores["test"]["classes_covered"] == 10
    assert scores["test"]["class_entropy_bits"] > 3.2  # log2(10) = 3.32 for a balanced mix


def test_a_divergence_crosses_processes_whole(tmp_path):
    import pickle

    err = TrainingDiverged(70, {"loss_g": float("nan")}, tmp_path / "ckpt.pt", 60)
    copied = pickle.loads(pickle.dumps(err))  # what a training process sends back to the flow
    assert (type(copied), str(copied), copied.step) == (TrainingDiverged, str(err), 70)


def test_the_classifier_file_is_the_same_bytes_for_the_same_weights(digits, tmp_path):
    from gan_core.evaluate.classifier import save_classifier

    classifier = train_classifier(digits[0], ClassifierParams(epochs=1), seed=0)
    save_classifier(classifier, tmp_path / "a.pt")
    save_classifier(classifier, tmp_path / "b.pt")  # another temporary file on the way
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_a_cached_classifier_is_the_trained_one_and_leaves_the_rng_as_training_does(digits, tmp_path):
    settings, cache = ClassifierParams(epochs=1), tmp_path / "classifiers"
    trained = train_classifier(digits[0], settings, seed=3, cache=cache)
    after_training = torch.rand(4)
    assert len(list(cache.glob("*.pt"))) == 1
    read = train_classifier(digits[0], settings, seed=3, cache=cache)
    assert torch.equal(torch.rand(4), after_training)  # the same draws come next
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), read.state_dict().values()))
    train_classifier(digits[0], settings, seed=4, cache=cache)  # another seed: another classifier, trained
    train_classifier(digits[0], ClassifierParams(epochs=2), seed=3, cache=cache)  # other settings: the same
    assert len(list(cache.glob("*.pt"))) == 3


def _compute_once(cached: Path, log: Path) -> None:
    with once_per_machine(cached):
        if not cached.exists():
            with log.open("a") as file:
                file.write("computed\n")
            time.sleep(0.3)  # long enough for the other process to ask meanwhile
            cached.write_text("value")


def test_side_by_side_processes_compute_a_cache_once(tmp_path):
    cached, log = tmp_path / "cache" / "value.npy", tmp_path / "log"
    workers = [multiprocessing.get_context("fork").Process(target=_compute_once, args=(cached, log)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert log.read_text() == "computed\n" and cached.read_text() == "value"
