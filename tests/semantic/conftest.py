import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small networks and LRR solves run several times faster on one thread (torch and BLAS)
    when the 2 CI cores are shared; the library itself leaves thread settings alone."""
    torch = pytest.importorskip("torch")
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)
