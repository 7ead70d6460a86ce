"""Request models of the public REST API (responses are rendered by ``convert``)."""
