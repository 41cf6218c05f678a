"""Shared fixtures: every kernel is tested in each of its variants, not only the default one."""

import numpy as np
import pytest

from tests.helpers import VARIANT_LEVELS
from wasmpose.cpu import opt_level


@pytest.fixture(params=list(VARIANT_LEVELS))
def variant(request):
    """Run the test body under each variant's optimisation level."""
    with opt_level(VARIANT_LEVELS[request.param]):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)
