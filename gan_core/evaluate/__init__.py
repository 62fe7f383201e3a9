"""Measuring generators: a digit classifier's feature space for FID/KID and class statistics."""
