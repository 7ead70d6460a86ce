"""One HTTP attempt of a webhook: SSRF guard, signing, body formats, backoff, the sender."""
