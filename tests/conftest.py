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


@pytest.fixture(scope="module")
def process_cluster():
    """A 2-worker dask LocalCluster of worker processes (what the tests send travels by pickle,
    as on a real cluster), started once per test module; skips without dask.distributed."""
    import warnings

    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            client.wait_for_workers(2)
            yield client
