"""CycleGAN's image history pool: pass-through until full, history half of the time after, exact state round trip."""

from __future__ import annotations

import io

import torch

from gan_core.image_pool import ImagePool


def numbered(start: int, n: int) -> torch.Tensor:
    """n one-pixel images holding the values start, start + 1, ...: every image is recognisable by its value."""
    return torch.arange(start, start + n, dtype=torch.float32).view(n, 1, 1, 1)


def test_images_pass_through_until_the_pool_is_full():
    pool = ImagePool(capacity=10, seed=0)
    for start in (0, 4):
        batch = numbered(start, 4)
        assert torch.equal(pool.query(batch), batch)
    assert pool.count == 8
    out = pool.query(numbered(8, 4))  # fills the last two slots, then the pool is full for the other two
    assert pool.count == 10 and torch.equal(out[:2], numbered(8, 2))


def test_a_full_pool_returns_a_stored_image_half_of_the_time():
    pool = ImagePool(capacity=50, seed=1)
    pool.query(numbered(0, 50))
    stored, swapped = set(range(50)), 0
    queries = 2000
    for i in range(queries):
        value = 50 + i
        out = int(pool.query(numbered(value, 1)).item())
        if out != value:
            swapped += 1
            assert out in stored  # history, never an invented image
            stored.remove(out)  # a returned image leaves the pool: the new one takes its slot
            stored.add(value)
    assert abs(swapped / queries - 0.5) < 0.045  # binomial(2000, 0.5): 4 standard deviations
    assert pool.count == 50 and set(pool.images.flatten().long().tolist()) == stored


def test_state_round_trip_gives_the_same_choices_as_an_uninterrupted_pool():
    straight, interrupted = ImagePool(capacity=8, seed=3), ImagePool(capacity=8, seed=3)
    for start in range(0, 20, 4):
        straight.query(numbered(start, 4))
        interrupted.query(numbered(start, 4))
    buffer = io.BytesIO()
    torch.save(interrupted.state_dict(), buffer)
    buffer.seek(0)
    resumed = ImagePool(capacity=8, seed=99)  # another seed: everything must come from the state
    resumed.load_state_dict(torch.load(buffer, weights_only=True), torch.device("cpu"))
    for start in range(20, 60, 4):
        assert torch.equal(resumed.query(numbered(start, 4)), straight.query(numbered(start, 4)))


def test_a_pool_of_size_zero_passes_everything_through():
    pool = ImagePool(capacity=0, seed=0)
    batch = numbered(0, 5)
    assert torch.equal(pool.query(batch), batch)
    assert pool.state_dict()["images"].numel() == 0
