"""Fixtures of the conformance suite: the backend under test (see plugin.py)."""

import pytest

from graphgrad.backends.conformance import plugin


def pytest_configure(config):
    # Normally pytest loads the plugin through graphgrad's `pytest11` entry point; with
    # PYTEST_DISABLE_PLUGIN_AUTOLOAD set it is registered here (the backend then comes
    # from $GRAPHGRAD_CONFORMANCE_BACKEND, as --backend is not known).
    if not config.pluginmanager.is_registered(plugin):
        config.pluginmanager.register(plugin, "graphgrad-conformance")
        plugin.pytest_configure(config)


@pytest.fixture(scope="session")
def backend(request):
    return plugin.backend_under_test(request.config)
