"""Secrets are compared in constant time: a lint over the source of every package.

``a == b`` on strings stops at the first differing byte, so its timing tells an
attacker how much of a guessed token was right. Every check of a supplied secret
(internal token, admin key, webhook signatures and tokens, Stripe signatures) must
use ``hmac.compare_digest``; API keys and JWTs never meet ``==`` at all (keys are
looked up by their SHA-256, tokens verified by PyJWT).

The scan flags an ``==``/``!=`` whose operand is named like a secret: the last
word of its name is key, secret, signature, token, hash, digest, password, mac...
(so ``key_hash`` is flagged, ``token_type`` or ``api_key_id`` are not). A side that
is a literal is fine (the literal is public). The few other hits are listed in
ALLOWED with the reason each is not a secret check.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from spooled_testing import reliability

ROOT = Path(__file__).resolve().parents[3]
SECRET_WORDS = {
    "key",
    "secret",
    "signature",
    "sig",
    "token",
    "hash",
    "digest",
    "password",
    "passwd",
    "mac",
    "hmac",
    "credential",
    "credentials",
}
#: "path:source" of comparisons that are not checks of a supplied secret.
ALLOWED = {
    # A gRPC metadata *name* ("key" of a key/value pair), not a credential.
    "libs/common/src/spooled_common/errors.py:key == ERROR_TRAILER",
    "services/queue-core/src/spooled_queue_core/grpc_server.py:key == rpc.ORG_KEY",
    # Startup checks that production does not run with the public development defaults:
    # both sides are configuration, nothing a caller supplies.
    "libs/common/src/spooled_common/settings.py:self.internal_token == DEV_INTERNAL_TOKEN",
    "services/api-gateway/src/spooled_gateway/settings.py:self.jwt_secret == DEV_JWT_SECRET",
    # Whether an endpoint's configured secret is already in Standard Webhooks form
    # (decides how to derive the signing key); no request data involved.
    "services/webhooks/src/spooled_webhooks/sending/signing.py:"
    "standard_key(secret) != secret.encode()",
}
#: Modules that verify a supplied secret, each of which must use compare_digest.
VERIFIERS = [
    "libs/common/src/spooled_common/rpc.py",  # the internal token on every internal call
    "services/realtime/src/spooled_realtime/identity.py",  # the internal token over HTTP
    "services/api-gateway/src/spooled_gateway/auth/deps.py",  # X-Admin-Key
    "services/api-gateway/src/spooled_gateway/orgs/service.py",  # X-Webhook-Token
    "services/webhooks/src/spooled_webhooks/inbound/verify.py",  # GitHub/Stripe/custom
    "services/billing/src/spooled_billing/stripe/signature.py",  # Stripe-Signature
]


def sources() -> list[Path]:
    found = [
        p
        for p in sorted(ROOT.glob("*/*/src/**/*.py"))
        if "spooled_proto" not in p.parts  # generated stubs
    ]
    assert len(found) > 50, f"found only {len(found)} source files under {ROOT}"
    return found


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        index = node.slice
        if isinstance(index, ast.Constant) and isinstance(index.value, str):
            return index.value
        return _name(node.value)
    if isinstance(node, ast.Call):
        return _name(node.func)
    return None


def secret_named(node: ast.expr) -> bool:
    name = _name(node)
    return bool(name) and re.split(r"[_.]", name.lower())[-1] in SECRET_WORDS  # type: ignore[union-attr]


def flagged(tree: ast.AST) -> list[ast.Compare]:
    """``==``/``!=`` comparisons with a secret-named operand and no literal one."""
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        if not any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops):
            continue
        sides = [node.left, *node.comparators]
        if any(isinstance(side, ast.Constant) for side in sides):
            continue
        if any(secret_named(side) for side in sides):
            hits.append(node)
    return hits


def equality_on_secrets(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [f"{path.relative_to(ROOT)}:{ast.unparse(node)}" for node in flagged(tree)]


def test_no_equality_on_secrets() -> None:
    hits = [hit for path in sources() for hit in equality_on_secrets(path)]
    unexpected = sorted(set(hits) - ALLOWED)
    assert not unexpected, (
        "compare secrets with hmac.compare_digest (or list a non-secret here, with why):\n"
        + "\n".join(unexpected)
    )
    stale = sorted(ALLOWED - set(hits))
    assert not stale, f"ALLOWED lists comparisons that no longer exist: {stale}"
    reliability.record(
        "security",
        "timing attacks on secret comparisons",
        "no == / != on a secret-named value in any package's source (AST scan); every "
        "verifier of a supplied secret calls hmac.compare_digest",
        f"{len(sources())} source files scanned: {len(ALLOWED)} non-secret comparisons "
        f"allow-listed with a reason, {len(VERIFIERS)} verifiers use compare_digest",
        files=len(sources()),
    )


def test_verifiers_use_compare_digest() -> None:
    for rel in VERIFIERS:
        tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"))
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "compare_digest"
        ]
        assert calls, f"{rel} verifies a secret without hmac.compare_digest"


def test_the_rule_on_samples() -> None:
    """What is flagged and what is not: names, subscripts, calls, literals."""
    samples = {
        "supplied_token == expected_token": True,
        "request.headers['x-signature'] != sig": True,
        "row['key_hash'] == computed": True,
        "hmac_of(body) == header": False,
        "compute_digest(body) == header": True,
        "claims.token_type != REFRESH": False,
        "key_id == other_id": False,
        "token == ''": False,
    }
    for code, expected in samples.items():
        assert bool(flagged(ast.parse(code))) is expected, code
