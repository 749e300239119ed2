import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def web_digits():
    from webly.synthetic import make_web_digits
    return make_web_digits(noise_rate=0.4, random_state=0)


@pytest.fixture
def repo_root():
    return ROOT
