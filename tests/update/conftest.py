from tests.micropython.conftest import micropython  # noqa: F401 - the shared fixture (fails under CI=true without one)
