"""The GAN library: data, variants, the training loop, evaluation and tracking. No orchestration here."""
