"""Liveness and readiness: /healthz and /readyz."""


def test_liveness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readiness_reports_the_loaded_model(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ready"
    assert response.get_json()["checks"]["model"] == client.get("/api/model").get_json()["version"]
