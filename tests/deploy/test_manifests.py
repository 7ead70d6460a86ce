"""Invariants every render must keep (Helm default/production, Kustomize dev/production).

Hardening, probes on named ports, graceful termination, only the gateway
public, NetworkPolicy/PDB/HPA coverage, and a migration step per service.
"""

from __future__ import annotations

from . import k8s, live

#: Services drain in-flight work for up to this long after SIGTERM
#: (uvicorn timeout_graceful_shutdown, QUEUE_CORE/SCHEDULER_SHUTDOWN_GRACE_SECS).
SERVICE_DRAIN_SECS = 10
PUBLIC_COMPONENTS = {"gateway"}


def _selector(obj: k8s.Obj) -> dict[str, str]:
    spec = obj["spec"]
    sel = spec.get("podSelector", spec.get("selector", {}))
    return dict(sel.get("matchLabels", sel))


def _selects(obj: k8s.Obj, workload: k8s.Obj) -> bool:
    return _selector(obj).items() <= k8s.pod_labels(workload).items()


class TestHardening:
    def test_pods_run_as_non_root_with_seccomp(self, render: k8s.Render) -> None:
        for workload in render.deployments + render.of_kind("Job"):
            spec = k8s.pod_spec(workload)
            ctx = spec["securityContext"]
            name = workload["metadata"]["name"]
            assert ctx["runAsNonRoot"] is True, name
            assert ctx["runAsUser"] != 0, name
            assert ctx["seccompProfile"]["type"] == "RuntimeDefault", name
            assert spec["automountServiceAccountToken"] is False, name
            assert spec["enableServiceLinks"] is False, name

    def test_containers_are_locked_down(self, render: k8s.Render) -> None:
        for workload in render.deployments + render.of_kind("Job"):
            volumes = {v["name"]: v for v in k8s.pod_spec(workload).get("volumes", [])}
            for c in k8s.all_containers(workload):
                where = f"{workload['metadata']['name']}/{c['name']}"
                sc = c["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True, where
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["capabilities"]["drop"] == ["ALL"], where
                assert "add" not in sc["capabilities"], where
                tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
                assert tmp and "emptyDir" in volumes[tmp[0]["name"]], f"{where}: no emptyDir /tmp"
                res = c["resources"]
                assert {"cpu", "memory"} <= set(res["requests"]), where
                assert "memory" in res["limits"], where


class TestProbesAndTermination:
    def test_probes_use_http_on_a_declared_port(self, render: k8s.Render) -> None:
        for d in render.deployments:
            c = k8s.main_container(d)
            ports = {p["name"] for p in c["ports"]}
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                probe = c[kind]["httpGet"]
                assert probe["path"].startswith("/"), (d["metadata"]["name"], kind)
                assert probe["port"] in ports, (d["metadata"]["name"], kind, probe["port"])
            # Liveness must not depend on the database: a DB outage would restart every pod.
            assert c["livenessProbe"]["httpGet"]["path"] != c["readinessProbe"]["httpGet"]["path"]

    def test_grace_period_covers_prestop_and_drain(self, render: k8s.Render) -> None:
        for d in render.deployments:
            spec = k8s.pod_spec(d)
            pre_stop = k8s.main_container(d)["lifecycle"]["preStop"]["exec"]["command"]
            assert pre_stop[0] == "sleep", d["metadata"]["name"]
            sleep = int(pre_stop[1])
            assert 1 <= sleep <= 15
            grace = spec["terminationGracePeriodSeconds"]
            assert grace >= sleep + SERVICE_DRAIN_SECS + 5, (d["metadata"]["name"], grace)

    def test_rolling_updates_keep_capacity(self, render: k8s.Render) -> None:
        for d in render.deployments:
            rolling = d["spec"]["strategy"]["rollingUpdate"]
            assert rolling["maxUnavailable"] == 0, d["metadata"]["name"]


class TestExposure:
    def test_every_service_targets_a_declared_container_port(self, render: k8s.Render) -> None:
        for svc in render.of_kind("Service"):
            pods = [d for d in render.deployments if _selects(svc, d)]
            assert len(pods) == 1, f"Service {svc['metadata']['name']} selects {len(pods)}"
            declared = {p["name"]: p["containerPort"] for p in k8s.main_container(pods[0])["ports"]}
            for port in svc["spec"]["ports"]:
                assert port["targetPort"] in declared, (svc["metadata"]["name"], port)
                assert port["port"] == declared[port["targetPort"]]

    def test_only_the_gateway_is_public(self, render: k8s.Render) -> None:
        for svc in render.of_kind("Service"):
            comp = svc["metadata"]["labels"]["app.kubernetes.io/component"]
            if comp not in PUBLIC_COMPONENTS:
                assert svc["spec"].get("type", "ClusterIP") == "ClusterIP", comp
        for ing in render.of_kind("Ingress"):
            for rule in ing["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    svc = render.get("Service", backend["name"])
                    assert svc is not None, backend
                    labels = svc["metadata"]["labels"]
                    assert labels["app.kubernetes.io/component"] in PUBLIC_COMPONENTS
                    assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}

    def test_network_policies_isolate_internal_services(self, render: k8s.Render) -> None:
        release = {
            k: v
            for k, v in k8s.pod_labels(render.deployments[0]).items()
            if k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")
        }
        for d in render.deployments:
            policies = [p for p in render.of_kind("NetworkPolicy") if _selects(p, d)]
            name = d["metadata"]["name"]
            assert len(policies) == 1, f"{name}: {len(policies)} NetworkPolicies"
            spec = policies[0]["spec"]
            assert spec["policyTypes"] == ["Ingress"]
            if k8s.component(d) in PUBLIC_COMPONENTS:
                continue
            for rule in spec["ingress"]:
                assert rule.get("from"), f"{name}: an ingress rule open to every peer"
            first = spec["ingress"][0]
            assert first["from"] == [{"podSelector": {"matchLabels": release}}], name
            ports = {p["name"] for p in k8s.main_container(d)["ports"]}
            assert {p["port"] for p in first["ports"]} == ports


class TestAvailability:
    def test_every_deployment_has_a_disruption_budget(self, render: k8s.Render) -> None:
        for d in render.deployments:
            pdbs = [p for p in render.of_kind("PodDisruptionBudget") if _selects(p, d)]
            assert len(pdbs) == 1, d["metadata"]["name"]
            assert ("minAvailable" in pdbs[0]["spec"]) != ("maxUnavailable" in pdbs[0]["spec"])

    def test_autoscaled_deployments_leave_replicas_to_the_hpa(self, render: k8s.Render) -> None:
        scaled = {
            h["spec"]["scaleTargetRef"]["name"]: h
            for h in render.of_kind("HorizontalPodAutoscaler")
        }
        for name, hpa in scaled.items():
            d = render.get("Deployment", name)
            assert d is not None, f"HPA {name} targets no Deployment"
            assert "replicas" not in d["spec"], f"{name}: replicas would fight the HPA"
            assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
            assert k8s.main_container(d)["resources"]["requests"]["cpu"]

    def test_production_runs_redundant_replicas(self, renders: dict[str, k8s.Render]) -> None:
        for name in ("helm-production", "kustomize-production"):
            render = renders[name]
            scaled = {
                h["spec"]["scaleTargetRef"]["name"]: h
                for h in render.of_kind("HorizontalPodAutoscaler")
            }
            for d in render.deployments:
                hpa = scaled.get(d["metadata"]["name"])
                replicas = hpa["spec"]["minReplicas"] if hpa else d["spec"]["replicas"]
                assert replicas >= 2, (name, d["metadata"]["name"])
                assert k8s.pod_spec(d)["topologySpreadConstraints"], (name, d["metadata"]["name"])


def _migration_steps(render: k8s.Render, d: k8s.Obj) -> tuple[list[k8s.Obj], list[k8s.Obj]]:
    """(init containers, hook Job containers) that run ``migrate`` for this Deployment."""
    main = k8s.main_container(d)
    inits = [c for c in k8s.pod_spec(d).get("initContainers", []) if c.get("args") == ["migrate"]]
    jobs = [
        k8s.main_container(j)
        for j in render.hook_jobs()
        if k8s.main_container(j).get("args") == ["migrate"]
        and k8s.main_container(j)["image"] == main["image"]
    ]
    return inits, jobs


def test_each_service_with_migrations_migrates_before_it_serves(
    renders: dict[str, k8s.Render],
) -> None:
    """Helm: a pre-install/pre-upgrade Job per service; Kustomize: an init container.

    A service has migrations when its CLI has a ``migrate`` command (asked for real).
    """
    for render in renders.values():
        for d in render.deployments:
            where = (render.name, d["metadata"]["name"])
            main = k8s.main_container(d)
            assert main["args"] == ["serve"], where
            inits, jobs = _migration_steps(render, d)
            expected = 1 if live.cli_has_migrate(main["command"][0]) else 0
            hooks, init = (jobs, inits) if render.helm else (inits, jobs)
            assert (len(hooks), len(init)) == (expected, 0), where
            if not expected:
                continue
            step = hooks[0]
            assert step["command"] == main["command"], where
            step_env = {e["name"] for e in step.get("env", [])}
            # `migrate` runs the same settings checks as `serve`: same secrets.
            secret_env = {e["name"] for e in main.get("env", []) if "valueFrom" in e}
            assert secret_env <= step_env, (where, secret_env - step_env)
            assert step_env <= {e["name"] for e in main.get("env", [])}, where


def test_labels_follow_the_recommended_set(render: k8s.Render) -> None:
    for doc in render.docs:
        labels = doc["metadata"].get("labels", {})
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        assert labels.get("app.kubernetes.io/part-of") == "spooled", where
        assert labels.get("app.kubernetes.io/name") == "spooled", where
        assert "app.kubernetes.io/managed-by" in labels, where
