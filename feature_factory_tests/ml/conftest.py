import pytest

from ml_helpers import default_specs


@pytest.fixture
def specs():
    return default_specs()
