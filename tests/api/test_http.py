"""The HTTP edges: unknown routes, wrong methods, body limits, hostile bodies."""
from conftest import assert_error


def test_unknown_route_and_method(api):
    assert_error(api.call("GET", "/api/v1/nothing"), 404, "NotFoundError")
    assert_error(api.call("GET", "/api/v1/user/x/y/z"), 404, "NotFoundError")
    r = api.call("GET", "/api/v1/token")
    assert_error(r, 405, "MethodNotAllowedError")
    assert r.headers["Allow"] == "POST"
    r = api.call("PATCH", "/api/v1/user", api.admin_token, json={})
    assert_error(r, 405, "MethodNotAllowedError")
    # GET lists the users (admins), as OpenPAI v0.8 did.
    assert set(r.headers["Allow"].split(", ")) == {"PUT", "DELETE", "GET"}


def test_body_limit(api):
    big = '{"username": "' + "a" * (1024 * 1024 + 10) + '", "password": "x"}'
    r = api.call("POST", "/api/v1/token", data=big, headers={"Content-Type": "application/json"})
    assert_error(r, 413, "RequestEntityTooLargeError")

    def chunks():
        for _ in range(1100):
            yield b"a" * 1024
    r = api.call("POST", "/api/v1/token", data=chunks(),
                 headers={"Content-Type": "application/json"})
    assert_error(r, 413, "RequestEntityTooLargeError")


def test_body_limit_per_location(api):
    """PaiBodyLimit 2048 on one location (conftest's site include): larger
    bodies are refused there and nowhere else."""
    name, _ = api.make_user()
    path = "/api/v1/user/%s/virtualClusters" % name
    padded = '{"virtualClusters": "default"' + " " * 3000 + "}"
    r = api.call("PUT", path, api.admin_token, data=padded,
                 headers={"Content-Type": "application/json"})
    assert_error(r, 413, "RequestEntityTooLargeError", "2048")
    small = '{"virtualClusters": "default"' + " " * 1500 + "}"
    r = api.call("PUT", path, api.admin_token, data=small,
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    # The server-wide limit (1 MiB) holds elsewhere.
    r = api.call("PUT", "/api/v1/user", api.admin_token, headers={"Content-Type": "application/json"},
                 data='{"username": "%s", "password": "secret123", "modify": true}' % name
                      + " " * 3000)
    assert r.status_code == 201, r.text


def test_hostile_bodies(api):
    t = api.admin_token
    for raw in ["[" * 10000 + "]" * 10000, '{"username": "a\\u0000b", "password": "secret123"}',
                b'{"username": "\xff\xfe", "password": "secret123"}', "null", "42",
                '{"username": "a", "password": "secret123", "admin": 99999999999999999999999}']:
        r = api.call("PUT", "/api/v1/user", t, data=raw,
                     headers={"Content-Type": "application/json"})
        assert_error(r, 400, "InvalidParametersError")
    # the server is still fine
    assert api.call("POST", "/api/v1/token", json={"username": "admin",
                                                   "password": api.admin_password}).ok


def test_json_content_type_everywhere(api):
    r = api.call("GET", "/api/v1/nothing")
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
