"""Hypothesis draws its examples the same way on every run, so a CI result can be
reproduced exactly (and a failure found once is found again)."""
from hypothesis import settings

settings.register_profile("reproducible", derandomize=True, database=None)
settings.load_profile("reproducible")
