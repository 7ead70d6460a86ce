"""Models of the public REST API: request bodies (parsed and validated) and response bodies
(documentation only: ``convert`` and the routes render them, see ``common.ResponseModel``)."""
