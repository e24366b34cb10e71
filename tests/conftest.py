import os

import matplotlib
from hypothesis import settings

matplotlib.use("Agg")  # tests only: the library itself never picks a backend

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=30, deadline=None)
# make fuzz: the fuzz targets (tests/test_fuzz.py) and every other property test, at length.
settings.register_profile("fuzz", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
